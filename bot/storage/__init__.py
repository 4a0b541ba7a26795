"""Where forgebot keeps what it must not lose: one interface per kind of data, two databases.

    bot/storage/base.py          Storage: every kind's interface, and the engine's life cycle
    bot/storage/<kind>.py        a kind's records and its interface (a Protocol): deliveries,
                                 claims, effects, activity, dependencies, configs, labels,
                                 worktrees, cleanup, leases
    bot/storage/sqlite/          embedded SQLite (the default): group commit on the event loop's
                                 thread (engine.py), one module per kind
    bot/storage/postgres/        PostgreSQL through psycopg 3's async pool, for several replicas
    bot/storage/open.py          FORGEBOT_DATABASE_URL -> the Storage it names

Handlers and the engine call the interfaces and never write SQL; tests/storage/ is one contract
suite that runs against both implementations.
"""
