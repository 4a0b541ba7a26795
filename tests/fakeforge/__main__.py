"""`python -m tests.fakeforge --port N [--root DIR] [--empty] [--gitea-version V]`: serve the emulator on 127.0.0.1.

Without --empty it creates a demo state (org "acme" with public repo acme/widgets; users alice
(write), bob (triage) and carol (admin)) and prints one JSON line with the base URL and the
users' tokens before serving. --root keeps the bare repositories in DIR (default: a temporary
directory, removed on exit). --gitea-version makes the Gitea dialect another version than 1.22.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from . import gt_version
from .forge import FakeForge


def demo(forge: FakeForge) -> dict[str, str]:
    forge.create_repo("acme/widgets", files={"README.md": "# widgets\n"}, description="demo repository")
    tokens = {}
    for login, level in (("alice", "write"), ("bob", "triage"), ("carol", "admin")):
        forge.add_user(login)
        forge.set_permission("acme/widgets", login, level)
        tokens[login] = forge.token(login)
    return tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakeforge", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--empty", action="store_true", help="start without the demo state")
    parser.add_argument("--gitea-version", default=gt_version.DEFAULT, help="the Gitea version to be (default 1.22.0)")
    args = parser.parse_args(argv)

    import uvicorn

    with tempfile.TemporaryDirectory(prefix="fakeforge-") as tmp:
        base_url = f"http://127.0.0.1:{args.port}"
        forge = FakeForge(args.root or tmp, base_url=base_url, gitea_version=args.gitea_version)
        tokens = {} if args.empty else demo(forge)
        print(json.dumps({"base_url": base_url, "github": base_url + "/api/v3", "gitea": base_url + "/api/v1",
                          "tokens": tokens}), flush=True)
        uvicorn.run(forge.app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="off",
                    ws="none", http="h11")
    return 0


if __name__ == "__main__":
    sys.exit(main())
