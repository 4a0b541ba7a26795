"""Judging a repository's webhook to forgebot and its deliveries: facts in, findings out, no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from urllib.parse import urlsplit

from bot.doctor.access import EVENTS
from bot.doctor.findings import Finding, Level, fail, ok, skip, warn
from bot.forges.base import Hook, HookDelivery

RECEIVER_PATHS = ("/webhooks", "/webhooks/github", "/webhooks/gitea")
# Gitea's "issues" group switches on issue comments too (routers/api/v1/utils/hook.go, issuesHook).
GITEA_GROUPS = {"issue_comment": "issues"}


def expected_url(public_url: str, platform: str) -> str:
    return f"{public_url.rstrip('/')}/webhooks/{platform}"


def accepted_urls(public_url: str, platform: str) -> tuple[str, str]:
    base = public_url.rstrip("/")
    return f"{base}/webhooks/{platform}", f"{base}/webhooks"


def own_hooks(hooks: Sequence[Hook], public_url: str | None) -> list[Hook]:
    """Hooks meant for forgebot: under the public URL, or at a forgebot receiver path anywhere."""
    prefix = public_url.rstrip("/") + "/" if public_url else None
    return [h for h in hooks if (prefix and h.url.startswith(prefix))
            or urlsplit(h.url).path.rstrip("/") in RECEIVER_PATHS]


def missing_events(events: Sequence[str], platform: str) -> list[str]:
    if "*" in events:
        return []
    return [e for e in EVENTS if e not in events and not (platform == "gitea" and GITEA_GROUPS.get(e) in events)]


def desired_hook(public_url: str, platform: str, current: Hook | None) -> Hook:
    """The hook `--fix` makes: the current one's events plus those forgebot needs, JSON, active."""
    events: tuple[str, ...] = tuple(EVENTS)
    if current is not None:
        events = ("*",) if "*" in current.events else tuple(dict.fromkeys((*current.events, *EVENTS)))
    return Hook(url=expected_url(public_url, platform), events=events, active=True, content_type="json",
                id=current.id if current else None)


def judge_hook(scope: str, hooks: Sequence[Hook], public_url: str, platform: str) -> tuple[list[Finding], Hook | None]:
    """Findings about forgebot's webhook on one repository, and that hook (None when there is none)."""
    fix = "run forgebot doctor with --fix"
    mine = own_hooks(hooks, public_url)
    if not mine:
        return [fail(scope, "webhook", f"no webhook points at {expected_url(public_url, platform)}: forgebot "
                     "hears nothing from this repository", fix)], None
    found: list[Finding] = []
    accepted = accepted_urls(public_url, platform)
    best = next((h for h in mine if h.url in accepted and h.active), mine[0])
    if len(mine) > 1:
        found.append(warn(scope, "webhooks", f"{len(mine)} webhooks point at forgebot (ids "
                          f"{', '.join(str(h.id) for h in mine)}): every event arrives {len(mine)} times",
                          "delete all but one in the repository's webhook settings"))
    problems = []
    if best.url not in accepted:
        other = "gitea" if platform == "github" else "github"
        if best.url.rstrip("/").endswith(f"/webhooks/{other}"):
            why = f"the {other} path, so forgebot refuses every delivery (400)"
        else:
            why = f"not FORGEBOT_PUBLIC_URL ({accepted[0]})"
        problems.append(fail(scope, "webhook url", f"hook {best.id} points at {best.url}: {why}", fix))
    if not best.active:
        problems.append(fail(scope, "webhook", f"hook {best.id} is inactive: nothing is delivered", fix))
    if best.content_type != "json":
        problems.append(warn(scope, "webhook content type", f"hook {best.id} sends {best.content_type} bodies "
                             "(payload=...): forgebot reads them, but they are larger and Gitea signs the JSON "
                             "inside rather than the body; use application/json", fix))
    for event in missing_events(best.events, platform):
        problems.append(fail(scope, "webhook events", f"hook {best.id} is not sent {event}: {EVENTS[event]} never "
                             "reach forgebot", fix))
    if best.has_secret is False:
        problems.append(fail(scope, "webhook secret", f"hook {best.id} has no secret: forgebot refuses every "
                             "unsigned delivery", fix))
    if not problems:
        problems.append(ok(scope, "webhook", f"hook {best.id} sends JSON for {', '.join(EVENTS)} to {best.url}"))
    return found + problems, best


def judge_deliveries(scope: str, deliveries: Sequence[HookDelivery], healthy: bool = False) -> Finding:
    """How the hook's recent deliveries fared (newest first), ignoring doctor's own pings. `healthy`:
    a test delivery just went through, so past failures are history (a note, not a problem)."""
    recent = [d for d in deliveries if d.event != "ping"]
    if not recent:
        return ok(scope, "deliveries", "no deliveries yet")
    failed = [d for d in recent if not 200 <= d.status_code < 300]
    if not failed:
        return ok(scope, "deliveries", f"the last {len(recent)} were answered 2xx")
    codes = Counter(str(d.status_code) if d.status_code else "no answer" for d in failed)
    how = ", ".join(f"{code}: {n}" for code, n in sorted(codes.items()))
    text = f"{len(failed)} of the last {len(recent)} failed ({how})"
    redeliver = "see why in the hook's Recent Deliveries; redeliver the ones that matter"
    if healthy:
        return Finding(scope, "deliveries", Level.NOTE, f"{text}, before the test delivery that just went through",
                       redeliver)
    if not 200 <= recent[0].status_code < 300:
        return fail(scope, "deliveries", f"{text}, the newest among them", redeliver)
    return warn(scope, "deliveries", text, redeliver)


def judge_ping(scope: str, delivery: HookDelivery | None, stored: bool) -> Finding:
    """GitHub's record of doctor's ping, and whether this forgebot's database has it."""
    check = "webhook signature"
    if delivery is None:
        return skip(scope, check, "GitHub did not list the ping among the hook's deliveries in time; try again")
    code = delivery.status_code
    if 200 <= code < 300:
        if stored:
            return ok(scope, check, "a ping arrived here and its signature matched a secret forgebot holds")
        return skip(scope, check, "the ping was answered 2xx, but not by this forgebot (its database does not "
                    "have it): FORGEBOT_PUBLIC_URL points at another instance, so the secret could not be checked")
    if code == 401:
        return fail(scope, check, "forgebot refused the ping's signature: the hook's secret is not one of "
                    "FORGEBOT_WEBHOOK_SECRETS", "run forgebot doctor with --fix to set it")
    if code == 0:
        return fail(scope, check, f"GitHub could not deliver the ping ({delivery.status})",
                    "make FORGEBOT_PUBLIC_URL reachable from GitHub")
    return fail(scope, check, f"the ping was answered {code} ({delivery.status})",
                "see the answer in the hook's Recent Deliveries")


def judge_app_signature(newest: HookDelivery | None, stored: bool) -> Finding:
    """A GitHub App's webhook, judged by its newest delivery (its API has no ping)."""
    check = "app webhook signature"
    if newest is None:
        return skip("github", check, "the App's webhook has no deliveries yet, so its secret could not be checked",
                    "make one (edit an issue) and run forgebot doctor again")
    code = newest.status_code
    if code == 401:
        return fail("github", check, "forgebot refused the signature of the App's newest delivery: the App's webhook "
                    "secret is not one of FORGEBOT_WEBHOOK_SECRETS",
                    "set it under the App's settings, Webhook secret (--fix changes repository webhooks only)")
    if not 200 <= code < 300:
        return skip("github", check, f"the App's newest delivery was answered {code or 'nothing'} ({newest.status}), "
                    "so its secret could not be checked")
    if not stored:
        return skip("github", check, "the App's newest delivery was answered 2xx, but not by this forgebot (its "
                    "database does not have it), so the secret could not be checked")
    return ok("github", check, "the App's newest delivery arrived here and its signature matched a secret forgebot holds")


def judge_test(scope: str, arrived: bool, refused: float | None, private_url: bool) -> Finding:
    """Gitea's test delivery: did it reach this forgebot, and if not, did forgebot refuse its signature?
    `refused` is how many more signature refusals forgebot's /metrics counted (None: unknown)."""
    check = "webhook signature"
    if arrived:
        return ok(scope, check, "a test delivery arrived here and its signature matched a secret forgebot holds")
    if refused:
        return fail(scope, check, "forgebot refused the test delivery's signature: the hook's secret is not one of "
                    "FORGEBOT_WEBHOOK_SECRETS", "run forgebot doctor with --fix to set it")
    why = "did not arrive"
    if private_url:
        why += "; FORGEBOT_PUBLIC_URL is a private address, which Gitea refuses unless [webhook] ALLOWED_HOST_LIST allows it"
    return fail(scope, check, f"the test delivery {why}",
                "check the hook's Recent Deliveries in the repository settings, and Gitea's log")
