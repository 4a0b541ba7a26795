"""The receiver: platform detection, signatures (with the reference vectors), and every answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.http.webhooks import GITEA, GITHUB, Rejected, detect_platform, inspect_delivery, verify_signature
from tests.conftest import REFERENCE, SECRET, gitea_headers, github_headers, sign

VECTORS = json.loads((REFERENCE / "signature-vectors.json").read_text())


def _raw(headers: dict[str, str]) -> dict[bytes, bytes]:
    return {k.lower().encode(): v.encode() for k, v in headers.items()}


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"{v['platform']}-{v.get('payload_file', 'docs')}")
def test_reference_signature_vectors_verify(vector: dict[str, Any]) -> None:
    body = (REFERENCE / vector["payload_file"]).read_bytes() if "payload_file" in vector else vector["payload"].encode()
    headers = {vector["header"]: vector["value"], **vector.get("also_sent_by_gitea", {})}
    secret = vector["secret"].encode()
    verify_signature(vector["platform"], _raw(headers), body, [secret])
    with pytest.raises(Rejected) as caught:
        verify_signature(vector["platform"], _raw(headers), body + b" ", [secret])
    assert caught.value.status == 401


def test_github_docs_vector_matches_our_signer() -> None:
    github = VECTORS[0]
    assert "sha256=" + sign(github["payload"].encode(), github["secret"]) == github["value"]


def test_gitea_bare_hex_alone_is_enough_and_hub_header_is_the_fallback() -> None:
    body = b'{"a": 1}'
    digest = sign(body)
    verify_signature(GITEA, _raw({"X-Gitea-Signature": digest}), body, [SECRET.encode()])
    verify_signature(GITEA, _raw({"X-Forgejo-Signature": digest}), body, [SECRET.encode()])
    # Gitea without a secret sends these headers empty; an empty bare header falls back.
    verify_signature(GITEA, _raw({"X-Gitea-Signature": "", "X-Hub-Signature-256": "sha256=" + digest}), body, [SECRET.encode()])


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": ""},
        {"X-Hub-Signature-256": "sha256="},
        {"X-Gitea-Signature": "", "X-Hub-Signature-256": "sha256="},
        {"X-Hub-Signature": "sha1=0000"},
    ],
)
def test_missing_or_empty_signatures_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(Rejected) as caught:
        verify_signature(GITEA if "X-Gitea-Signature" in headers else GITHUB, _raw(headers), b"{}", [SECRET.encode()])
    assert (caught.value.status, caught.value.code) == (401, "signature_missing")


def test_every_configured_secret_is_accepted_for_rotation() -> None:
    body = b"{}"
    headers = _raw({"X-Hub-Signature-256": "sha256=" + sign(body, "new")})
    verify_signature(GITHUB, headers, body, [b"old", b"new"])
    with pytest.raises(Rejected):
        verify_signature(GITHUB, headers, body, [b"old"])


def test_no_secret_configured_refuses_everything() -> None:
    body = b"{}"
    with pytest.raises(Rejected) as caught:
        verify_signature(GITHUB, _raw({"X-Hub-Signature-256": "sha256=" + sign(body)}), body, [])
    assert caught.value.status == 401


def test_gitea_and_forgejo_are_detected_despite_github_style_headers() -> None:
    assert detect_platform(_raw({"X-GitHub-Event": "push"})) == GITHUB
    assert detect_platform(_raw({"X-GitHub-Event": "push", "X-Gitea-Event-Type": "push"})) == GITEA
    assert detect_platform(_raw({"X-Forgejo-Event-Type": "push"})) == GITEA


def test_gitea_delivery_keeps_both_event_names() -> None:
    body = b'{"action": "reviewed"}'
    headers = _raw(gitea_headers(body, "pull_request_approved", "pull_request_review_approved", "d-1"))
    delivery = inspect_delivery(None, headers, body, [SECRET.encode()])
    assert (delivery.platform, delivery.event, delivery.event_type) == (GITEA, "pull_request_approved", "pull_request_review_approved")


def test_gitea_form_hooks_sign_the_json_not_the_form_encoding() -> None:
    from urllib.parse import quote

    payload = b'{"ref": "refs/heads/main"}'
    body = b"payload=" + quote(payload).encode()
    headers = _raw({**gitea_headers(payload, "push", "push", "f-1"), "content-type": "application/x-www-form-urlencoded"})
    delivery = inspect_delivery(None, headers, body, [SECRET.encode()])
    assert delivery.content_type == "application/x-www-form-urlencoded"


# -- answers over HTTP --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_stored_duplicate_and_refused_answers(harness_factory: Any) -> None:
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    async with harness_factory() as h:
        first = await h.client.post("/webhooks/github", content=body, headers=github_headers(body, "ping", "id-1"))
        again = await h.client.post("/webhooks", content=body, headers=github_headers(body, "ping", "id-1"))
        wrong = await h.client.post("/webhooks/github", content=body, headers=github_headers(body, "ping", "id-2", "nope"))
        assert (first.status_code, first.json()) == (202, {"status": "accepted", "delivery": "id-1"})
        assert (again.status_code, again.json()["status"]) == (200, "duplicate")
        assert wrong.status_code == 401 and "signature" in wrong.json()["error"]
        assert h.rows("SELECT delivery_id FROM deliveries") == [("id-1",)]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("change", "status", "fragment"),
    [
        ({"x-github-event": None}, 400, "event header"),
        ({"x-github-delivery": None}, 400, "delivery id"),
        ({"x-github-delivery": "../../etc/passwd"}, 400, "delivery id"),
        ({"x-github-event": "Issue Comment"}, 400, "event header"),
        ({"content-type": "text/plain"}, 400, "content type"),
        ({"x-hub-signature-256": None}, 401, "signature"),
        ({"x-gitea-event-type": "push"}, 400, "/webhooks/gitea"),
    ],
)
async def test_malformed_requests_get_one_line_and_store_nothing(
    harness_factory: Any, change: dict[str, str | None], status: int, fragment: str
) -> None:
    body = b'{"zen": "x"}'
    headers = github_headers(body, "ping", "d-1")
    for key, value in change.items():
        if value is None:
            headers.pop(key)
        else:
            headers[key] = value
    async with harness_factory() as h:
        response = await h.client.post("/webhooks/github", content=body, headers=headers)
        assert response.status_code == status
        error = response.json()["error"]
        assert fragment in error and "\n" not in error
        assert h.rows("SELECT count(*) FROM deliveries") == [(0,)]


@pytest.mark.anyio
async def test_body_that_is_not_a_json_object_is_refused(harness_factory: Any) -> None:
    async with harness_factory() as h:
        for body in (b"[1, 2]", b"not json", b""):
            response = await h.client.post("/webhooks", content=body, headers=github_headers(body, "ping", "x"))
            assert response.status_code == 400, body
        assert h.rows("SELECT count(*) FROM deliveries") == [(0,)]


@pytest.mark.anyio
async def test_oversized_bodies_are_refused_by_header_and_by_stream(harness_factory: Any) -> None:
    big = b'{"pad": "' + b"x" * 5000 + b'"}'
    async with harness_factory(max_body_bytes=4096) as h:
        declared = await h.client.post("/webhooks", content=big, headers=github_headers(big, "ping", "big-1"))
        assert declared.status_code == 413

        async def chunks() -> Any:  # no content-length: the limit is enforced while reading
            for start in range(0, len(big), 1000):
                yield big[start : start + 1000]

        headers = github_headers(big, "ping", "big-2")
        streamed = await h.client.post("/webhooks", content=chunks(), headers=headers)
        assert streamed.status_code == 413
        assert h.rows("SELECT count(*) FROM deliveries") == [(0,)]


@pytest.mark.anyio
async def test_only_post_is_allowed(harness_factory: Any) -> None:
    async with harness_factory() as h:
        response = await h.client.get("/webhooks/gitea")
        assert response.status_code == 405 and response.headers["allow"] == "POST"


@pytest.mark.anyio
async def test_gitea_delivery_is_stored_under_its_fine_event_type(harness_factory: Any) -> None:
    body = (REFERENCE / "gitea-webhooks" / "pull_request_approved.reviewed.json").read_bytes()
    async with harness_factory() as h:
        response = await h.post_gitea(body, "pull_request_approved", "pull_request_review_approved", "g-1")
        assert response.status_code == 202
        assert h.rows("SELECT platform, event, event_type FROM deliveries") == [
            ("gitea", "pull_request_approved", "pull_request_review_approved")
        ]


@pytest.mark.anyio
async def test_storage_failures_answer_503_and_are_counted(harness_factory: Any) -> None:
    from tests.conftest import read_metric

    body = b'{"zen": "x"}'
    async with harness_factory() as h:
        await h.app.storage.engine.stop()  # the database is gone (disk full, I/O error...)
        for n in range(3):
            response = await h.client.post("/webhooks/github", content=body, headers=github_headers(body, "ping", f"s-{n}"))
            assert response.status_code == 503 and "retry" in response.json()["error"]
        gitea = await h.post_gitea(body, "push", "push", "g-1")
        assert gitea.status_code == 503
        assert await read_metric(h.client, "forgebot_deliveries_rejected_total", platform="github", reason="storage") == 3
        assert await read_metric(h.client, "forgebot_deliveries_rejected_total", platform="gitea", reason="storage") == 1
