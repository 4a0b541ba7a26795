"""Local git for forgebot: one bare mirror per repository and a git worktree per started issue.

Modules, one concern each:
  runner.py     git as a subprocess: argument lists, a timeout on every call, errors without secrets
  env.py        the hardened environment, and credentials scoped to the forge's URL
  lock.py       one lock per mirror, across tasks and processes (fcntl.flock)
  mirror.py     the bare mirror: made on first use, fetched incrementally, read locally
  worktrees.py  git worktrees of a mirror: add, inspect, archive, remove, prune
  names.py      branch names from a template, checked by git's own rules
"""
