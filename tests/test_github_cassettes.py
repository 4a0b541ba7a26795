"""The GitHub client against real recorded GitHub traffic (@octokit/fixtures, as vcrpy cassettes).

The client must send exactly the recorded method, path, query and body (vcrpy matches on those in
"none" mode, so anything else fails), and the recorded answers must become the right models and
errors. Where the client's natural request differs from the recording, the test calls the client
the way that produces the recorded request and says so.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import vcr
import yaml
from vcr.cassette import Cassette

from bot.forges.base import Branch, BranchProtection, Invalid, Label
from bot.forges.github import GitHubForge, protection_from

CASSETTES = Path(__file__).parent / "cassettes"
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "octokit_to_cassettes.py"
TOKEN = "0000000000000000000000000000000000000001"  # the fixtures' placeholder
ORG = "octokit-fixture-org"

pytestmark = pytest.mark.anyio

recorded = vcr.VCR(cassette_library_dir=str(CASSETTES), record_mode="none",
                   match_on=["method", "path", "query", "body"])


async def no_sleep(seconds: float) -> None:
    raise AssertionError(f"recorded traffic should never make the client wait ({seconds} s)")


@contextlib.asynccontextmanager
async def replay(scenario: str, page_size: int | None = 100) -> AsyncIterator[tuple[GitHubForge, Cassette]]:
    with recorded.use_cassette(f"{scenario}.yaml") as cassette:
        async with httpx.AsyncClient() as http:
            client = GitHubForge(base_url="https://api.github.com", http=http, token=TOKEN, sleep=no_sleep)
            client.page_size = page_size
            yield client, cassette
            await client.aclose()


def played(cassette: Cassette) -> list[str]:
    """The recorded exchanges that were answered, as "METHOD path", in recorded order."""
    return [f"{cassette.requests[i].method} {cassette.requests[i].path}"
            for i in sorted(i for i, n in cassette.play_counts.items() if n)]


def recorded_response(scenario: str, index: int) -> Any:
    import json

    data = yaml.safe_load((CASSETTES / f"{scenario}.yaml").read_text())
    return json.loads(data["interactions"][index]["response"]["body"]["string"])


# -- the cassettes are what the script makes --------------------------------------------------


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("octokit_to_cassettes", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> Iterator[Any]:
    yield _script()


@pytest.mark.parametrize("scenario", ["add-labels-to-issue", "branch-protection", "errors", "git-refs", "labels",
                                      "paginate-issues"])
def test_committed_cassettes_are_current(script: Any, scenario: str) -> None:
    if not (script.SOURCE / scenario).exists():
        pytest.skip("the octokit fixtures are not next to this checkout")
    assert (CASSETTES / f"{scenario}.yaml").read_text() == script.render(script.SOURCE / scenario)


# -- replays ----------------------------------------------------------------------------------


async def test_labels() -> None:
    repo = f"{ORG}/labels"
    # The recording lists labels without per_page (GitHub's default page size): page_size=None.
    async with replay("labels", page_size=None) as (gh, cassette):
        labels = await gh.list_labels(repo)
        assert len(labels) == 9
        assert labels[0] == Label("bug", "d73a4a", "Something isn't working", 1000)
        assert labels[4].name == "good first issue"
        created = await gh.create_label(repo, Label("test-label", "663399"))
        assert created == Label("test-label", "663399", "", 1009)
        # The caller's spelling of the colour goes out as given; the model is always lowercase.
        updated = await gh.update_label(repo, "test-label", Label("test-label-updated", "BADA55"))
        assert updated == Label("test-label-updated", "bada55", "", 1009)
        await gh.delete_label(repo, "test-label-updated")
        assert cassette.all_played
        assert gh.stats == {"GET": 2, "POST": 1, "PATCH": 1, "DELETE": 1}
        assert gh.rate_limit.limit == 5000 and gh.rate_limit.remaining == 4999


async def test_add_labels_to_issue() -> None:
    repo = f"{ORG}/add-labels-to-issue"
    async with replay("add-labels-to-issue") as (gh, cassette):
        # Creating the issue (the recording's first exchange) is not a protocol operation.
        assert await gh.add_labels(repo, 1, ["Foo", "bAr", "baZ"]) == ("Foo", "bAr", "baZ")
        assert played(cassette) == [f"POST /repos/{repo}/issues/1/labels"]


async def test_branch_protection() -> None:
    repo = f"{ORG}/branch-protection"
    async with replay("branch-protection") as (gh, cassette):
        assert await gh.get_protection(repo, "main") is None  # 404 "Branch not protected"
        # All four sections null, enforce_admins false, allow_force_pushes left out (None).
        off = await gh.set_protection(repo, BranchProtection("main", enforce_admins=False))
        assert off == BranchProtection("main", enforce_admins=False, allow_force_push=False)
        await gh.remove_protection(repo, "main")
        assert played(cassette) == [f"GET /repos/{repo}/branches/main/protection",
                                    f"PUT /repos/{repo}/branches/main/protection",
                                    f"DELETE /repos/{repo}/branches/main/protection"]
    # The second recorded PUT sets dismissal restrictions and a team push restriction, which the
    # protocol's model cannot express, so the client never sends it; its answer still has to read right.
    assert protection_from("main", recorded_response("branch-protection", 2)) == BranchProtection(
        "main", required_approvals=1, dismiss_stale_approvals=True, required_status_checks=("foo/bar",),
        enforce_admins=True, allow_force_push=False, push_allowlist=("octokit-fixture-user-a",))


async def test_git_refs() -> None:
    repo = f"{ORG}/git-refs"
    sha = "0000000000000000000000000000000000000002"
    async with replay("git-refs") as (gh, cassette):
        assert await gh.create_branch(repo, "test", sha) == Branch("test", sha)
        await gh.delete_branch(repo, "test")
        # Listing refs and moving one (PATCH) are not protocol operations.
        assert played(cassette) == [f"POST /repos/{repo}/git/refs", f"DELETE /repos/{repo}/git/refs/heads/test"]


async def test_paginate_issues() -> None:
    # The recording pages by 3 (per_page=3) and follows GitHub's Link headers to /repositories/1000.
    async with replay("paginate-issues", page_size=3) as (gh, cassette):
        issues = await gh.list_issues(f"{ORG}/paginate-issues")
        assert [i.number for i in issues] == list(range(13, 0, -1))
        assert all(i.state == "open" and not i.is_pull for i in issues)
        assert cassette.all_played and gh.stats["GET"] == 5


async def test_validation_errors_carry_githubs_field_details() -> None:
    async with replay("errors") as (gh, cassette):
        with pytest.raises(Invalid) as caught:
            await gh.create_label(f"{ORG}/errors", Label("foo", color="invalid"))
        assert cassette.all_played
    error = caught.value
    assert (error.status, error.platform, error.details) == (422, "github", ("color: invalid",))
    assert error.message.startswith("Validation Failed")
    assert TOKEN not in str(error)
