"""The command parser, table-driven: what a reader sees as a command, and nothing else."""

from __future__ import annotations

import pytest

from bot.engine.commands import MAX_COMMANDS, Command, new_commands, parse

CASES = [
    ("plain", "/claim", [("claim", ())]),
    ("case and arguments", "/Claim 4h", [("claim", ("4h",))]),
    ("several in order", "/assign @alice\nthanks!\n/label bug docs", [("assign", ("@alice",)), ("label", ("bug", "docs"))]),
    ("quoted label", '/label "good first issue" bug', [("label", ("good first issue", "bug"))]),
    ("unbalanced quote falls back", '/label "oops', [("label", ('"oops',))]),
    ("up to three spaces", "   /claim", [("claim", ())]),
    ("indented code", "    /claim\n\t/claim", []),
    ("mid-line is prose", "please /claim this", []),
    ("block quote", "> /claim\n>/close", []),
    ("fenced backticks", "```\n/claim\n```\n/close", [("close", ())]),
    ("fenced tildes, longer close", "~~~~\n/claim\n~~~~~\n/reopen", [("reopen", ())]),
    ("a shorter fence does not close", "````\n```\n/claim\n````", []),
    ("unclosed fence runs to the end", "```\n/claim", []),
    ("html comment inline", "<!-- /claim -->\n/close", [("close", ())]),
    ("html comment over lines", "<!--\n/claim\n-->\n/close", [("close", ())]),
    ("unclosed html comment", "<!--\n/claim", []),
    ("not a name", "/ claim\n/123\n//x", []),
    ("empty", "", []),
]


@pytest.mark.parametrize(("why", "body", "expected"), CASES, ids=[c[0] for c in CASES])
def test_parse(why: str, body: str, expected: list[tuple[str, tuple[str, ...]]]) -> None:
    assert [(c.name, c.args) for c in parse(body)] == expected


def test_at_most_twenty_commands_per_comment() -> None:
    assert len(parse("/label x\n" * 100)) == MAX_COMMANDS


def test_an_edit_runs_only_the_new_lines() -> None:
    before = "/claim\n/label bug"
    after = "/claim\n/label bug\n/label docs\n/claim"
    assert new_commands(after, before) == [Command("label", ("docs",), "/label docs"), Command("claim", (), "/claim")]
    assert new_commands(before, before) == []
    assert [c.name for c in new_commands("/close", None)] == ["close"]
