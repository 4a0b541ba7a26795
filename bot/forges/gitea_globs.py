"""Gitea's branch protection rule names as the fnmatch patterns the cleanup planner matches.

Gitea (models/git/protected_branch.go, `Match`) treats a rule name without any of `*?[]{}\\` as
a plain branch name compared without case (`strings.EqualFold`); any other name is a glob
(modules/glob, '/' as separator) compared with case, where `{a,b}` is a choice and `\\` escapes.
fnmatch has neither, so each rule becomes one or more fnmatch patterns: letters of a plain name
as `[xX]`, each `{...}` choice as its own pattern, an escaped character as a literal. fnmatch's
`*` also crosses '/', so a pattern may cover more branches than Gitea's rule, never fewer: a
branch cleanup is unsure about stays.
"""

from __future__ import annotations

SPECIAL = frozenset("*?[]{}\\")
MAX_PATTERNS = 256  # a rule's choices multiply; past this, the rule is taken as a literal name


def _literal(char: str) -> str:
    return f"[{char}]" if char in "*?[" else char


def plain_pattern(name: str) -> str:
    """A plain rule name, matched without case."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.lower() != c.upper() else _literal(c) for c in name)


def _alternatives(rule: str, start: int, inside: bool) -> tuple[list[str], int]:
    """The patterns `rule[start:]` stands for, up to the '}' that closes a choice when `inside`;
    and where reading stopped. ValueError when braces do not balance."""
    choices: list[list[str]] = [[""]]
    i = start
    while i < len(rule):
        c = rule[i]
        if c == "\\" and i + 1 < len(rule):
            choices[-1] = [p + _literal(rule[i + 1]) for p in choices[-1]]
            i += 2
            continue
        if c == "{":
            inner, i = _alternatives(rule, i + 1, True)
            choices[-1] = [p + q for p in choices[-1] for q in inner]
            if len(choices[-1]) > MAX_PATTERNS:
                raise ValueError("too many choices")
            continue
        if inside and c == ",":
            choices.append([""])
        elif inside and c == "}":
            return [p for group in choices for p in group], i + 1
        elif c == "}":
            raise ValueError("unbalanced '}'")
        else:
            choices[-1] = [p + c for p in choices[-1]]
        i += 1
    if inside:
        raise ValueError("unclosed '{'")
    return choices[0], i


def rule_patterns(rule: str) -> tuple[str, ...]:
    """fnmatch patterns covering every branch Gitea's rule `rule` protects."""
    if not rule:
        return ()
    if not SPECIAL & set(rule):
        return (plain_pattern(rule),)
    try:
        patterns, _ = _alternatives(rule, 0, False)
    except ValueError:  # Gitea falls back to the name quoted: a literal, compared with case
        return ("".join(_literal(c) for c in rule),)
    return tuple(dict.fromkeys(patterns))
