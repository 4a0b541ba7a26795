"""Forge clients: the protocol (base), the GitHub and Gitea implementations, and the provider."""
