"""Gitea repository webhooks, with the events Gitea 1.22 keeps and reads back.

A hook stores one switch per event (go-gitea/gitea `routers/api/v1/utils/hook.go`, `addHook` and
`editHook`): "issues" turns on the issues switch and every issue sub-event, "pull_request" every
pull request sub-event and the review switches; any other known name turns on only itself, and
unknown names are dropped. An empty list means push only, on create and on every edit (so a PATCH
that leaves `events` out resets the hook to push). Reading a hook (`models/webhook` `EventsArray`)
lists the switches in a fixed order, naming the review switch by its outcomes and repeating the
pull request comment switch as `pull_request_review_comment`.
"""

from __future__ import annotations

from typing import Any

from . import gtjson, hooktests
from .common import ApiError
from .server import Ctx, Resp, Routes
from .state import Hook

routes = Routes()
R = "/repos/{owner}/{repo}"
HOOK_TYPES = ("dingtalk", "discord", "gitea", "gogs", "msteams", "slack", "telegram", "feishu",
              "wechatwork", "packagist")

_ISSUE_SWITCHES = ("issue_assign", "issue_label", "issue_milestone", "issue_comment")
_PULL_SWITCHES = ("pull_request_assign", "pull_request_label", "pull_request_milestone", "pull_request_comment",
                  "pull_request_review", "pull_request_review_request", "pull_request_sync")
_PLAIN_SWITCHES = ("create", "delete", "fork", "push", "wiki", "repository", "release")

# EventsArray order: (name shown, the switch that shows it)
_READ_ORDER = (
    ("create", "create"), ("delete", "delete"), ("fork", "fork"), ("push", "push"),
    ("issues", "issues"), ("issue_assign", "issue_assign"), ("issue_label", "issue_label"),
    ("issue_milestone", "issue_milestone"), ("issue_comment", "issue_comment"),
    ("pull_request", "pull_request"), ("pull_request_assign", "pull_request_assign"),
    ("pull_request_label", "pull_request_label"), ("pull_request_milestone", "pull_request_milestone"),
    ("pull_request_comment", "pull_request_comment"),
    ("pull_request_review_approved", "pull_request_review"), ("pull_request_review_rejected", "pull_request_review"),
    ("pull_request_review_comment", "pull_request_comment"),
    ("pull_request_sync", "pull_request_sync"), ("wiki", "wiki"), ("repository", "repository"),
    ("release", "release"), ("package", "package"), ("pull_request_review_request", "pull_request_review_request"),
)


def switches(events: list[str] | None) -> list[str]:
    """The switches a hook's `events` turn on, in the order Gitea reads them back."""
    asked = {str(e).casefold() for e in events or ()} or {"push"}
    on = {name for name in _PLAIN_SWITCHES if name in asked}
    if "issues" in asked or "issues_only" in asked:
        on.add("issues")
    on |= {name for name in _ISSUE_SWITCHES if name in asked or "issues" in asked}
    if "pull_request" in asked or "pull_request_only" in asked:
        on.add("pull_request")
    on |= {name for name in _PULL_SWITCHES if name in asked or "pull_request" in asked}
    return [switch for switch in dict.fromkeys(s for _, s in _READ_ORDER) if switch in on]


def read_back(h: Hook) -> list[str]:
    """`events` as Gitea lists them (hooks made through the GitHub dialect keep their names)."""
    if h.kind == "web":
        return list(h.events)
    return [shown for shown, switch in _READ_ORDER if switch in h.events]


def _hook(ctx: Ctx, h: Hook) -> dict[str, Any]:
    return {**gtjson.hook(ctx.forge, h), "events": read_back(h)}


@routes.get(R + "/hooks")
def list_hooks(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    return ctx.paged(sorted(repo.hooks.values(), key=lambda h: h.id), lambda h: _hook(ctx, h))


@routes.post(R + "/hooks")
def create_hook(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    body, now = ctx.body(), ctx.ops.now()
    config = {k: str(v) for k, v in (body.get("config") or {}).items()}
    if body.get("type") not in HOOK_TYPES:
        raise ApiError(422, "Invalid hook type")
    if not config.get("url"):
        raise ApiError(422, "Missing config option: url")
    if config.get("content_type") not in ("json", "form"):
        raise ApiError(422, "Invalid content type")
    # Gitea has no rule against a second hook with the same URL (GitHub has).
    h = Hook(ctx.forge.state.new_id(), body["type"], config, switches(body.get("events")),
             bool(body.get("active") or False), now, now, body.get("branch_filter") or "",
             body.get("authorization_header") or "")
    repo.hooks[h.id] = h
    return Resp(201, _hook(ctx, h))


@routes.get(R + "/hooks/{id}")
def get_hook(ctx: Ctx) -> Any:
    repo = ctx.repo("admin")
    return _hook(ctx, ctx.by_id(repo.hooks, "id"))


@routes.patch(R + "/hooks/{id}")
def edit_hook(ctx: Ctx) -> Any:
    repo = ctx.repo("admin")
    h, body = ctx.by_id(repo.hooks, "id"), ctx.body()
    if body.get("config") is not None:
        config = {k: str(v) for k, v in body["config"].items()}
        if "content_type" in config and config["content_type"] not in ("json", "form"):
            raise ApiError(422, "Invalid content type")
        h.config = {**h.config, **config}
    h.events = switches(body.get("events"))  # every edit sets the events; none given means push
    h.branch_filter = body.get("branch_filter") or ""  # also not kept when left out
    if body.get("active") is not None:
        h.active = bool(body["active"])
    h.updated_at = ctx.ops.now()
    return _hook(ctx, h)


@routes.post(R + "/hooks/{id}/tests")
async def test_hook(ctx: Ctx) -> Resp:
    """A push of the branch's last commit to this hook alone; 204 even for an empty repository."""
    repo = ctx.repo("admin")
    h = ctx.by_id(repo.hooks, "id")
    payload = hooktests.gitea_test_push(ctx.forge, repo, ctx.login, ctx.arg("ref"))
    if payload is not None:
        await hooktests.deliver(ctx.forge, "gitea", repo, h, "push", payload)
    return Resp(204)


@routes.delete(R + "/hooks/{id}")
def delete_hook(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    del repo.hooks[ctx.by_id(repo.hooks, "id").id]
    return Resp(204)
