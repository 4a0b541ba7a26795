"""The pull requests of `make bench-commands`' /lgtm and /approve comments, and what to measure.

Each review pull request gets an /lgtm from a writer, and about a second later an /approve from
an approver named in the root OWNERS file, so that each comment is derived on its own and sets
the `forgebot/review` status once. A review comment's latency runs from just before it is posted
to the end of the bot's status POST on the pull request's head.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

APPROVERS = 10
PULL_PATH_RE = re.compile(r"/repos/[^/]+/[^/]+/(?:issues|pulls)/(\d+)(?:/|$)")
STATUS_RE = re.compile(r"/repos/[^/]+/[^/]+/(?:statuses|commits)/([0-9a-f]{40})")
COMMENT_RE = re.compile(r"/repos/[^/]+/[^/]+/issues/comments/(\d+)")


def owners_file(users: list[str]) -> str:
    return "approvers: [" + ", ".join(users[:APPROVERS]) + "]\n"


@dataclass
class ReviewPulls:
    """Review pull requests by number, their heads, and the review comments posted on them."""

    head_of: dict[int, str] = field(default_factory=dict)
    started: dict[int, tuple[int, float, str]] = field(default_factory=dict)  # comment id -> (pull, start, kind)

    def open_many(self, fake: Any, repo: Any, author: str, count: int) -> list[int]:
        numbers = []
        for n in range(count):
            branch = f"review-{n}"
            fake.ops.push_files(repo, author, branch, {f"src/change_{n}.py": f"n = {n}\n"}, f"change {n}", check=False)
            issue = fake.ops.create_pull(repo, author, branch, repo.default_branch, f"Change {n}")
            self.head_of[issue.number] = issue.pull.head_sha
            numbers.append(issue.number)
        return numbers

    def attribute(self, log: list[tuple[float, str, str, int]], bot_comments: dict[int, int]) -> dict[int, list[tuple[float, str, str, int]]]:
        """The bot's requests about each review pull request (by number, head, or its own comment)."""
        by_sha = {sha: number for number, sha in self.head_of.items()}
        found: dict[int, list[tuple[float, str, str, int]]] = {n: [] for n in self.head_of}
        for entry in log:
            path = entry[2]
            number = None
            if match := PULL_PATH_RE.search(path):
                number = int(match.group(1))
            elif match := STATUS_RE.search(path):
                number = by_sha.get(match.group(1))
            elif match := COMMENT_RE.search(path):
                number = bot_comments.get(int(match.group(1)))
            if number in found:
                found[number].append(entry)
        return found

    def latencies(self, requests: dict[int, list[tuple[float, str, str, int]]]) -> dict[str, list[float]]:
        """ms from each review comment to the first status POST on its pull request after it."""
        found: dict[str, list[float]] = {"lgtm": [], "approve": []}
        for _cid, (number, start, kind) in sorted(self.started.items(), key=lambda item: item[1][1]):
            posts = sorted(end for end, method, path, _ in requests[number]
                           if method == "POST" and "/statuses/" in path and end > start)
            if posts:
                found[kind].append((posts[0] - start) * 1000)
        return found

    def duplicates(self, repo: Any, bot: str, requests: dict[int, list[tuple[float, str, str, int]]]) -> Counter[str]:
        """More than one summary per pull request, more statuses than comments, a label added twice."""
        seen: Counter[str] = Counter()
        comments_on = Counter(number for number, _, _ in self.started.values())
        for number in self.head_of:
            issue = repo.issue(number)
            summaries = [c for c in issue.comments if repo.comments[c].user == bot and "### Review" in repo.comments[c].body]
            seen["summaries"] += max(0, len(summaries) - 1)
            posts = [r for r in requests[number] if r[1] == "POST" and "/statuses/" in r[2]]
            seen["statuses"] += max(0, len(posts) - comments_on[number])
            label_adds = [r for r in requests[number] if r[1] == "POST" and r[2].endswith("/labels")]
            seen["labels"] += max(0, len(label_adds) - 2)
        return seen
