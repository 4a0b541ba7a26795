"""Deliveries to a repository hook itself: GitHub's ping and Gitea's test push, sent to the hook's
URL with the hook's own secret and content type, and recorded per hook.

A hook URL reaches an ASGI app registered with `forge.route_hooks(origin, app)`, or a loopback
server over HTTP; any other host fails to connect, as it would from a forge that cannot reach it.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus, urlsplit

from . import ghjson, gtjson, webhooks
from .state import Hook, Repo

if TYPE_CHECKING:
    from .forge import FakeForge

FORM = "application/x-www-form-urlencoded"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# The zen line of a ping is one of GitHub's design principles; any will do.
ZEN = "Keep it logically awesome."


def github_ping(f: FakeForge, repo: Repo, hook: Hook, sender: str | None) -> dict[str, Any]:
    return {"zen": ZEN, "hook_id": hook.id, "hook": ghjson.hook(f, repo, hook),
            "repository": ghjson.repository(f, repo), "sender": ghjson.user(f, sender)}


def gitea_test_push(f: FakeForge, repo: Repo, sender: str | None, ref: str | None) -> dict[str, Any] | None:
    """Gitea's TestHook payload (routers/api/v1/repo/hook.go): a push of one commit with before == after."""
    ref = ref or f"refs/heads/{repo.default_branch}"
    sha = repo.git.resolve(ref)
    if sha is None:
        return None
    commit = gtjson.payload_commit(f, repo, repo.git.commit(sha))
    who = gtjson.user(f, sender)
    return {"ref": ref, "before": sha, "after": sha,
            "compare_url": f"{f.base_url}/{repo.full_name}/compare/{sha}...{sha}",
            "commits": [commit], "total_commits": 1, "head_commit": commit,
            "repository": gtjson.repository(f, repo), "pusher": who, "sender": who}


async def deliver(f: FakeForge, platform: str, repo: Repo, hook: Hook, event: str,
                  payload: dict[str, Any]) -> webhooks.Delivery:
    """Signs and sends one delivery to `hook`, as `platform` would, and records it in `forge.deliveries`."""
    secret = str(hook.config.get("secret") or "").encode()
    url = str(hook.config.get("url") or "")
    as_json = json.dumps(payload, separators=(",", ":") if platform == "github" else None,
                         indent=None if platform == "github" else 2).encode()
    form = hook.config.get("content_type", "form" if platform == "github" else "json") == "form"
    body = b"payload=" + quote_plus(as_json).encode() if form else as_json
    # GitHub signs the bytes it sends; Gitea signs the JSON even inside a form (PLATFORMS.md 1.4).
    signed = body if platform == "github" else as_json
    delivery_id = str(uuid.uuid4())
    headers = webhooks.headers_for(platform, event, event, delivery_id, signed, secret, hook.id, None)
    if form:
        headers["Content-Type"] = FORM
    app = _receiver(f, url)
    target = webhooks.Target(platform, app if app is not None else url, secret, urlsplit(url).path or "/", hook.id,
                             repo_hook=True)
    f.delivery_counter += 1
    d = webhooks.Delivery(delivery_id, f.delivery_counter, platform, event, payload.get("action"), event, payload,
                          body, headers, url, f.clock(), None, repo.id, target=target)
    f.deliveries.append(d)
    if app is None and urlsplit(url).hostname not in LOOPBACK:
        d.error = "failed to connect to host"
        return d
    return await webhooks.send(d)


def _receiver(f: FakeForge, url: str) -> Any:
    parts = urlsplit(url)
    return f.hook_receivers.get(f"{parts.scheme}://{parts.netloc}")


def hook_deliveries(f: FakeForge, hook_id: int) -> list[webhooks.Delivery]:
    """A hook's deliveries, newest first."""
    return [d for d in reversed(f.deliveries) if d.target is not None and d.target.repo_hook and d.target.hook_id == hook_id]


def github_status(d: webhooks.Delivery) -> dict[str, Any]:
    """The delivery as GET /hooks/{id}/deliveries lists it: GitHub's words for what happened."""
    summary = d.github_summary()
    if d.error:
        summary["status"] = d.error
    elif not d.ok:
        summary["status"] = f"Invalid HTTP Response: {d.status}"
    return summary


__all__ = ["deliver", "github_ping", "gitea_test_push", "hook_deliveries", "github_status"]
