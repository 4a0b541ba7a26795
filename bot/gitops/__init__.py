"""GitOps: load a repository's config, observe the platform, plan, apply, record."""
