"""Handlers: one module per concern, each exporting `router`; bot/app.py composes them."""
