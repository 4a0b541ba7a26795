"""Handler modules loaded by tests through FORGEBOT_EXTRA_HANDLERS (also in server subprocesses)."""
