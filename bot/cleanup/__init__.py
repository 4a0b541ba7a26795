"""Stale-branch cleanup: analyse a repository's branches from its local mirror, plan, then apply.

analysis (git, local) + observe (a few forge reads, the store) -> plan (pure) -> apply (one atomic
push per branch) and the dashboard issue. `runner` ties them together for the CLI and the job.
"""
