"""The repository config file: schema, errors with file, path and line, extends and merging."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from config.loader import ANCHOR_REFUSED, MAX_EXTENDS_DEPTH, ConfigError, load, merge, parse_yaml, validate
from config.repo import RepoConfig, parse_duration, schema

ROOT = Path(__file__).resolve().parents[1]


def test_committed_schema_is_current() -> None:
    committed = json.loads((ROOT / "config" / "schema.json").read_text())
    assert committed == schema(), "run: forgebot config schema > config/schema.json"


def test_the_documented_example_is_valid_and_uses_every_section() -> None:
    data, lines = parse_yaml((ROOT / "config" / "examples" / "forgebot.yml").read_text(), "example")
    config = validate(data, lines, "example")
    unset = [name for name in RepoConfig.model_fields if name not in data]
    assert unset == []  # the example shows every section
    assert config.labels is not None and config.labels[1].rename_from == ("enhancement",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("labels:\n  - name: bug\n    colour: red\n", "x:3: labels[0].colour: unknown key"),
        ("repository:\n  visibility: private\n", "x:2: repository.visibility: unknown key"),
        ("labels:\n  - name: bug\n  - name: Bug\n", "x:1: labels: 'Bug' is listed twice"),
        ("topics: [Python]\n", "x:1: topics: "),
        ("branches:\n  - name: main\n    protection:\n      required_approvals: -1\n", "x:4: branches[0].protection.required_approvals"),
        ("webhooks:\n  - url: https://h.test\n    secret_env: my-secret\n", "x:3: webhooks[0].secret_env"),
        ("claims:\n  default_duration: 9d\n", "x:1: claims: default_duration is longer"),
        ("labels: [\n", "x:2: not valid YAML"),
        ("- just\n- a list\n", "x:1: the file must be a mapping"),
        ("policy:\n  labels: sometimes\n", "x:2: policy.labels.mode"),
    ],
)
def test_errors_name_the_file_path_and_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        data, lines = parse_yaml(text, "x")
        validate(data, lines, "x")
    assert any(str(p).startswith(expected) for p in caught.value.problems), [str(p) for p in caught.value.problems]


def test_yaml_is_loaded_safely() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_yaml("labels: !!python/object/apply:os.system ['true']\n", "x")


def _alias_bomb(levels: int = 7) -> str:
    """A few hundred bytes that expand to 9**levels values (11 million) when aliases are followed."""
    lines = ["# a billion laughs, in labels", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, levels)]
    return "\n".join([*lines, f"labels: *a{levels - 1}", ""])


def test_an_alias_bomb_is_refused_at_its_first_anchor() -> None:
    bomb = _alias_bomb()
    assert len(bomb.encode()) < 500
    with pytest.raises(ConfigError) as caught:
        parse_yaml(bomb, "x")
    assert [str(p) for p in caught.value.problems] == [f"x:2: {ANCHOR_REFUSED}"]


def test_anchors_are_refused_even_when_harmless() -> None:
    text = "branches:\n  - name: main\n    protection: &strict {required_approvals: 1}\n  - name: next\n    protection: *strict\n"
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, "x")
    assert [str(p) for p in caught.value.problems] == [f"x:3: {ANCHOR_REFUSED}"]


def test_deep_nesting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^x:1: nested more than \d+ levels deep"):
        parse_yaml("labels: " + "[" * 50_000 + "]" * 50_000 + "\n", "x")


def test_merge_rules() -> None:
    base = {
        "labels": [{"name": "bug", "color": "d73a4a", "description": "base"}, {"name": "docs"}],
        "repository": {"has_wiki": False, "has_issues": True},
        "topics": ["a", "b"],
        "collaborators": {"alice": "read"},
    }
    child = {"labels": [{"name": "BUG", "description": "child"}, {"name": "new"}], "repository": {"has_wiki": True}, "topics": ["c"], "collaborators": {"bob": "write"}}
    assert merge(base, child) == {
        "labels": [{"name": "BUG", "color": "d73a4a", "description": "child"}, {"name": "docs"}, {"name": "new"}],
        "repository": {"has_wiki": True, "has_issues": True},
        "topics": ["c"],
        "collaborators": {"alice": "read", "bob": "write"},
    }
    assert base["repository"] == {"has_wiki": False, "has_issues": True}  # inputs untouched


def _fetcher(files: dict[tuple[str, str], str]) -> Any:
    async def fetch(repo: str, path: str) -> str | None:
        return files.get((repo, path))

    return fetch


@pytest.mark.anyio
async def test_extends_chain_with_default_paths_and_explicit_path() -> None:
    files = {
        ("acme/.github", "org/defaults.yml"): "extends: acme/base\nlabels: [{name: org}]\n",
        ("acme/base", ".github/forgebot.yml"): "labels: [{name: base}]\ntopics: [base]\n",
    }
    loaded = await load("acme/app", "extends: acme/.github:org/defaults.yml\nlabels: [{name: app}]\n", ".forgebot.yml", _fetcher(files))
    assert [l.name for l in loaded.config.labels or ()] == ["base", "org", "app"]
    assert loaded.config.topics == ("base",)
    assert loaded.sources == ("acme/app:.forgebot.yml", "acme/.github:org/defaults.yml", "acme/base:.github/forgebot.yml")


@pytest.mark.anyio
async def test_extends_refuses_cycles_depth_and_missing_files() -> None:
    cycle = {("a/one", ".forgebot.yml"): "extends: a/two\n", ("a/two", ".forgebot.yml"): "extends: a/one\n"}
    with pytest.raises(ConfigError, match="cycle"):
        await load("a/one", "extends: a/two\n", ".forgebot.yml", _fetcher(cycle))
    deep = {(f"a/r{n}", ".forgebot.yml"): f"extends: a/r{n + 1}\n" for n in range(10)}
    with pytest.raises(ConfigError, match=f"deeper than {MAX_EXTENDS_DEPTH}"):
        await load("a/r0", "extends: a/r1\n", ".forgebot.yml", _fetcher(deep))
    with pytest.raises(ConfigError, match="extends a/gone.*not found"):
        await load("a/x", "extends: a/gone\n", ".forgebot.yml", _fetcher({}))


@pytest.mark.anyio
async def test_a_mistake_in_an_extended_file_is_located_there_without_its_contents() -> None:
    files = {("acme/base", ".forgebot.yml"): "labels:\n  - name: ok\n  - nme: typo\n"}
    with pytest.raises(ConfigError) as caught:
        await load("acme/app", "extends: acme/base\n", ".forgebot.yml", _fetcher(files))
    assert [str(p) for p in caught.value.problems] == [
        "acme/base:.forgebot.yml:3: not a valid config file (2 problems); check it with forgebot config check"
    ]


@pytest.mark.anyio
async def test_extends_reaches_only_repositories_of_the_same_owner() -> None:
    asked: list[str] = []
    secret = {("victim/private", "creds.yml"): "aws_secret_access_key: AKIAEXAMPLE\n"}

    async def fetch(repo: str, path: str) -> str | None:
        asked.append(f"{repo}:{path}")
        return secret.get((repo, path))

    text = "labels: []\nextends: victim/private:creds.yml\n"
    with pytest.raises(ConfigError) as caught:
        await load("acme/app", text, ".forgebot.yml", fetch)
    assert [str(p) for p in caught.value.problems] == [
        "acme/app:.forgebot.yml:2: extends: victim/private:creds.yml: only a repository of acme can be extended"
    ]
    assert asked == []  # never read
    loaded = await load("Acme/app", "extends: acme/base\n", ".forgebot.yml", _fetcher({("acme/base", ".forgebot.yml"): "topics: [x]\n"}))
    assert loaded.config.topics == ("x",)  # owners compare without case


@pytest.mark.anyio
async def test_an_extended_file_that_is_not_a_config_leaks_nothing() -> None:
    files = {("acme/vault", "creds.yml"): "aws_access_key_id: AKIAEXAMPLE\naws_secret_access_key: hunter2\n"}
    with pytest.raises(ConfigError) as caught:
        await load("acme/app", "extends: acme/vault:creds.yml\n", ".forgebot.yml", _fetcher(files))
    text = "; ".join(str(p) for p in caught.value.problems)
    assert text == "acme/vault:creds.yml:1: not a valid config file (2 problems); check it with forgebot config check"


def test_durations() -> None:
    assert parse_duration("30m").total_seconds() == 1800
    assert parse_duration("2d").total_seconds() == 172800
    with pytest.raises(ValueError, match="duration like 30m"):
        parse_duration("soon")


