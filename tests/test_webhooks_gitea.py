"""The receiver's answers to Gitea and Forgejo deliveries with missing or malformed headers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import gitea_headers, github_headers, sign

BODY = b'{"ref": "refs/heads/main", "before": "a", "after": "b", "commits": []}'


def forgejo_headers(body: bytes, event: str, event_type: str, delivery: str) -> dict[str, str]:
    """What Forgejo sends: its own names first, and Gitea's (and GitHub's) beside them."""
    return {
        **gitea_headers(body, event, event_type, delivery),
        "x-forgejo-event": event,
        "x-forgejo-event-type": event_type,
        "x-forgejo-delivery": delivery,
        "x-forgejo-signature": sign(body),
    }


def forgejo_only_headers(body: bytes, event: str, event_type: str, delivery: str) -> dict[str, str]:
    """Forgejo's names alone, without the Gitea, Gogs or GitHub copies."""
    return {k: v for k, v in forgejo_headers(body, event, event_type, delivery).items()
            if k == "content-type" or k.startswith("x-forgejo-")}


SENDERS = {"gitea": gitea_headers, "forgejo": forgejo_headers, "forgejo-only": forgejo_only_headers}
DELIVERY_HEADERS = ("x-forgejo-delivery", "x-gitea-delivery", "x-gogs-delivery", "x-github-delivery")
EVENT_HEADERS = ("x-forgejo-event", "x-forgejo-event-type", "x-gitea-event", "x-gitea-event-type",
                 "x-gogs-event", "x-github-event", "x-github-event-type")
SIGNATURE_HEADERS = ("x-forgejo-signature", "x-gitea-signature", "x-gogs-signature", "x-hub-signature-256")


def _headers(sender: str, change: dict[str, str | None]) -> dict[str, str]:
    headers = SENDERS[sender](BODY, "push", "push", "d-1")
    for key, value in change.items():
        if value is None:
            headers.pop(key, None)
        else:
            headers[key] = value
    return headers


def _without(*names: str) -> dict[str, str | None]:
    return dict.fromkeys(names)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("sender", "change", "status", "fragment"),
    [
        ("gitea", _without(*DELIVERY_HEADERS), 400, "delivery id"),
        ("gitea", {"x-gitea-delivery": "../../etc/passwd"}, 400, "delivery id"),
        ("gitea", {"x-gitea-delivery": ""}, 400, "delivery id"),  # present but empty: no fallback
        ("gitea", _without(*EVENT_HEADERS), 400, "event header"),
        ("gitea", {"x-gitea-event": "Issue Comment"}, 400, "event header"),
        ("gitea", {"x-gitea-event-type": "Pull Request"}, 400, "event type"),
        ("gitea", _without(*SIGNATURE_HEADERS), 401, "signature"),
        ("gitea", {"x-gitea-signature": "0" * 64}, 401, "signature"),  # Gitea's own header wins over hub's
        ("gitea", {"content-type": "text/plain"}, 400, "content type"),
        ("forgejo", _without(*DELIVERY_HEADERS), 400, "delivery id"),
        ("forgejo", {"x-forgejo-delivery": "../../etc/passwd"}, 400, "delivery id"),  # Forgejo's name wins
        ("forgejo", _without(*EVENT_HEADERS), 400, "event header"),
        ("forgejo", {"x-forgejo-event": "Issue Comment"}, 400, "event header"),
        ("forgejo", {"x-forgejo-event-type": "Pull Request"}, 400, "event type"),
        ("forgejo", {"x-forgejo-signature": "0" * 64}, 401, "signature"),
        ("forgejo-only", _without("x-forgejo-delivery"), 400, "delivery id"),
        ("forgejo-only", _without("x-forgejo-signature"), 401, "signature"),
    ],
)
async def test_malformed_gitea_requests_get_one_line_and_store_nothing(
    harness_factory: Any, sender: str, change: dict[str, str | None], status: int, fragment: str
) -> None:
    async with harness_factory() as h:
        for path in ("/webhooks/gitea", "/webhooks"):
            response = await h.client.post(path, content=BODY, headers=_headers(sender, change))
            assert response.status_code == status, path
            error = response.json()["error"]
            assert fragment in error and "\n" not in error
        assert h.rows("SELECT count(*) FROM deliveries") == [(0,)]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("sender", "change", "stored"),
    [
        # Gitea before 1.18 sent no event type: the coarse event name is enough.
        ("gitea", _without("x-gitea-event-type", "x-github-event-type"), ("d-1", "push", None)),
        # Gitea sends GitHub's delivery header too, and that one is used when its own is missing.
        ("gitea", _without("x-gitea-delivery"), ("d-1", "push", "push")),
        ("gitea", {**_without("x-gitea-delivery"), "x-github-delivery": "from-github-name"},
         ("from-github-name", "push", "push")),
        # Only the fine event type: it names the event as well.
        ("gitea", _without("x-gitea-event", "x-gogs-event", "x-github-event"), ("d-1", "push", "push")),
        ("forgejo", _without("x-forgejo-event-type", "x-gitea-event-type", "x-github-event-type"),
         ("d-1", "push", None)),
        ("forgejo", {"x-forgejo-delivery": "forgejo-id"}, ("forgejo-id", "push", "push")),
        ("forgejo", {"x-forgejo-event-type": "pull_request_sync", "x-forgejo-event": "pull_request"},
         ("d-1", "pull_request", "pull_request_sync")),
        ("forgejo-only", {}, ("d-1", "push", "push")),
    ],
)
async def test_gitea_header_fallbacks_still_store_the_delivery(
    harness_factory: Any, sender: str, change: dict[str, str | None], stored: tuple[str, str, str | None]
) -> None:
    async with harness_factory() as h:
        response = await h.client.post("/webhooks", content=BODY, headers=_headers(sender, change))
        assert (response.status_code, response.json()) == (202, {"status": "accepted", "delivery": stored[0]})
        assert h.rows("SELECT platform, delivery_id, event, event_type FROM deliveries") == [("gitea", *stored)]


@pytest.mark.anyio
@pytest.mark.parametrize("sender", ["gitea", "forgejo", "forgejo-only"])
async def test_gitea_and_forgejo_deliveries_are_refused_on_the_github_route(harness_factory: Any, sender: str) -> None:
    async with harness_factory() as h:
        response = await h.client.post("/webhooks/github", content=BODY, headers=_headers(sender, {}))
        assert response.status_code == 400 and "/webhooks/gitea" in response.json()["error"]
        assert h.rows("SELECT count(*) FROM deliveries") == [(0,)]


@pytest.mark.anyio
async def test_github_deliveries_are_refused_on_the_gitea_route(harness_factory: Any) -> None:
    """Taken as Gitea's, a GitHub delivery would send its handlers to the Gitea instance."""
    body = b'{"zen": "x"}'
    async with harness_factory() as h:
        response = await h.client.post("/webhooks/gitea", content=body, headers=github_headers(body, "ping", "gh-1"))
        assert response.status_code == 400 and "/webhooks/github" in response.json()["error"]
        assert h.rows("SELECT count(*) FROM deliveries") == [(0,)]
