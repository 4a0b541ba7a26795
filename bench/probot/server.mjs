// Probot side of `make bench-ingest`: Probot's documented node middleware, one no-op handler.
// Usage: node server.mjs PORT  (APP_ID, PRIVATE_KEY and WEBHOOK_SECRET come from the environment)
import { createServer } from "node:http";
import { createNodeMiddleware, createProbot } from "probot";

const port = Number(process.argv[2]);
const appFn = (app) => {
  app.on("issue_comment", async () => {});
};
const probot = createProbot({ overrides: { logLevel: "warn" } });
const middleware = await createNodeMiddleware(appFn, { probot, webhooksPath: "/webhooks" });
createServer((req, res) => {
  middleware(req, res, () => {
    res.writeHead(404);
    res.end();
  });
}).listen(port, "127.0.0.1", () => console.log(`probot listening on ${port}`));
