"""Config files a careless or hostile author could write: each is one clear line, in `config check`
and in a pull request's plan, never a traceback or a dead delivery; and `secret_env` can name only
hook secrets, never the bot's own credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.gitops.apply import MissingSecret
from bot.gitops.runner import secret_lookup
from config.loader import ConfigError, parse_yaml, validate
from config.repo import RepoConfig, WebhookSpec
from tests.conftest import REPO, World, db_rows
from tests.test_cli import run

HUGE = "1" * 4301  # one digit past Python's limit on turning text into an int

BROKEN = [
    (f"claims:\n  max_per_user: {HUGE}\n", "x:2: a number of 4301 characters; numbers here have at most 64"),
    ("milestones:\n  - title: v1\n    due_on: 2026-13-45\n", "x:3: cannot read this value: month must be in 1..12"),
    ("claims:\n  default_duration: 99999999999999w\n", "x:2: claims.default_duration: '99999999999999w' is longer than any duration can be"),
    ("claims:\n  max_per_user: 2\nlabels: []\nclaims:\n  max_per_user: 3\n", "x:4: the key 'claims' is given twice, on lines 1 and 4"),
    ("labels:\n  - name: bug\n    color: d73a4a\n    name: Bug\n", "x:4: the key 'name' is given twice, on lines 2 and 4"),
    ("collaborators: {alice: write, alice: admin}\n", "x:1: the key 'alice' is given twice, on line 1"),
    ("webhooks:\n  - url: https://ci.test/h\n    secret_env: FORGEBOT_GITHUB_TOKEN\n",
     "x:3: webhooks[0].secret_env: 'FORGEBOT_GITHUB_TOKEN' may not be named: secret_env takes only variables like FORGEBOT_HOOK_SECRET_CI"),
    ("webhooks:\n  - url: https://ci.test/h\n    secret_env: FORGEBOT_HOOK_SECRET_\n", "x:3: webhooks[0].secret_env: 'FORGEBOT_HOOK_SECRET_' may not be named"),
    ("milestones:\n  - title: v1\n    due_on: !!timestamp soon\n", "x:3: cannot read this value: "),
    ("claims: !!map [1]\n", "x:1: not valid YAML: expected a mapping node, but found sequence"),
]


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        data, lines = parse_yaml(text, "x")
        validate(data, lines, "x")
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(("text", "expected"), BROKEN, ids=[
    "huge-int", "bad-date", "huge-duration", "duplicate-section", "duplicate-nested", "duplicate-flow",
    "bot-token-as-hook-secret", "bare-prefix", "bad-explicit-tag", "tag-of-wrong-kind"])
def test_each_broken_file_is_one_located_line(text: str, expected: str) -> None:
    [problem] = problems(text)
    assert problem.startswith(expected), problem


@pytest.mark.parametrize(("text", "expected"), BROKEN[:2], ids=["huge-int", "bad-date"])
def test_config_check_prints_one_line_not_a_traceback(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "forgebot.yml"
    path.write_text(text)
    result = run("config", "check", str(path))
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout.splitlines() == [expected.replace("x:", f"{path}:", 1)]


def test_a_number_in_base_60_cannot_take_the_loader_for_a_long_ride() -> None:
    # YAML 1.1 reads 1:1:1 as base 60; 100,000 groups took quadratic time to build before the cap.
    [problem] = problems("claims:\n  max_per_user: " + "1:" * 100_000 + "1\n")
    assert problem.startswith("x:2: a number of 200001 characters")


def test_the_same_key_in_separate_mappings_is_no_duplicate() -> None:
    text = "labels:\n  - name: bug\n  - name: docs\nbranches:\n  - name: main\n"
    data, lines = parse_yaml(text, "x")
    assert [label.name for label in validate(data, lines, "x").labels or ()] == ["bug", "docs"]


def test_hook_secrets_come_from_their_own_prefix() -> None:
    data, lines = parse_yaml("webhooks:\n  - url: https://ci.test/h\n    secret_env: FORGEBOT_HOOK_SECRET_CI\n", "x")
    config = validate(data, lines, "x")
    assert secret_lookup(config, {"FORGEBOT_HOOK_SECRET_CI": "s3cret"})("https://ci.test/h") == "s3cret"


def test_the_runtime_lookup_refuses_other_names_even_in_a_config_that_skipped_validation() -> None:
    hook = WebhookSpec.model_construct(url="https://ci.test/h", events=("push",), active=True, content_type="json",
                                       secret_env="FORGEBOT_GITHUB_TOKEN")
    config = RepoConfig.model_construct(webhooks=(hook,))
    lookup = secret_lookup(config, {"FORGEBOT_GITHUB_TOKEN": "ghp_the_bots_own_token"})
    with pytest.raises(MissingSecret) as caught:
        lookup("https://ci.test/h")
    assert "may not be named" in str(caught.value) and "ghp_the_bots_own_token" not in str(caught.value)


@pytest.mark.anyio
@pytest.mark.parametrize(("text", "expected"), [BROKEN[0], BROKEN[6]], ids=["huge-int", "bot-token-as-hook-secret"])
async def test_a_pull_request_with_such_a_file_gets_the_problem_as_plan_and_status(
        world: World, bot_factory: Any, text: str, expected: str) -> None:
    alice = world.actor("alice")
    async with bot_factory(world) as app:
        head = await alice.push(REPO, "config", {".forgebot.yml": text})
        number = await alice.open_pr(REPO, "config", "main", "Configure")
        await app.wait_idle()
        said = expected.removeprefix("x:").split(": ", 1)[1]
        [status] = [s for s in world.state().statuses if s.sha == head]
        assert status.state == "failure" and said[:100] in status.description
        [comment] = world.state().issue(number).comments
        assert f"- {REPO}:.forgebot.yml:{expected.removeprefix('x:')}" in world.state().comments[comment].body
        assert world.state().hooks == {}  # nothing installed, with the bot's token or otherwise
        assert db_rows(app, "SELECT status FROM deliveries WHERE event = 'pull_request'") == [("done",)]
