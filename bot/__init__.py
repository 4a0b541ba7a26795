"""forgebot: a webhook bot and GitOps daemon for GitHub and Gitea/Forgejo."""

__version__ = "0.1.0"
