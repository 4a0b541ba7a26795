"""`forgebot doctor`: checks of a deployment's set-up, each giving findings that say what to do.

`findings` is the vocabulary and the report; `access`, `hooks` and `host` judge facts without I/O;
`probe` gathers the facts from the forges and this host, and applies `--fix` to webhooks.
"""
