"""PostgreSQL's numbered migrations, applied in order at start under an advisory lock (so replicas
starting together migrate once). Never edit one that has shipped: add a new one.

Version 1 is SQLite's migrations 1 to 9 as one schema, plus what only several replicas need: the
deliveries' leases and the named leases. Times are seconds since the epoch (DOUBLE PRECISION), as
in SQLite, so both implementations hand the same records to the engine.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        -- One row per webhook delivery; `id` is the arrival order. `subject` is read from the
        -- payload when the delivery is stored, so that replicas can lease one subject at a time.
        CREATE TABLE deliveries (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            platform TEXT NOT NULL,
            delivery_id TEXT NOT NULL,
            event TEXT NOT NULL,
            event_type TEXT,
            content_type TEXT NOT NULL,
            body BYTEA NOT NULL,
            body_encoding TEXT CHECK (body_encoding IS NULL OR body_encoding = 'lz4'),
            received_at DOUBLE PRECISION NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'done', 'ignored', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at DOUBLE PRECISION,
            action TEXT,
            repo TEXT,
            subject TEXT,
            last_error TEXT,
            finished_at DOUBLE PRECISION,
            replayed_at DOUBLE PRECISION,
            -- which replica holds the delivery, and until when (renewed while its handlers run)
            lease_owner TEXT,
            lease_until DOUBLE PRECISION,
            -- a delivery only some replica can run (the worktree host) waits for that replica
            needs TEXT,
            UNIQUE (platform, delivery_id)
        );
        CREATE INDEX deliveries_open ON deliveries (id) WHERE status IN ('pending', 'running', 'dead');
        CREATE INDEX deliveries_open_subject ON deliveries (subject, id) WHERE status IN ('pending', 'running');
        CREATE INDEX deliveries_failed ON deliveries (id)
            WHERE status IN ('pending', 'running', 'dead') AND (status = 'dead' OR last_error IS NOT NULL);
        CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE finished_at IS NOT NULL;

        -- One row, rewritten by the readiness probe to prove the database takes writes.
        CREATE TABLE heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), at DOUBLE PRECISION NOT NULL);

        -- Idempotency keys of effects already applied (comments posted, labels added...).
        CREATE TABLE effects (
            key TEXT PRIMARY KEY,
            delivery_id TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX effects_by_age ON effects (created_at);

        -- Append-only, hash-chained record of what the bot did and why.
        CREATE TABLE activity (
            id BIGINT PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            platform TEXT,
            repo TEXT,
            subject TEXT,
            actor TEXT,
            delivery_id TEXT,
            detail TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE
        );
        CREATE INDEX activity_repo ON activity (repo, id);
        CREATE FUNCTION activity_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'the activity log is append-only'; END $$;
        CREATE TRIGGER activity_no_update BEFORE UPDATE OR DELETE ON activity
            FOR EACH ROW EXECUTE FUNCTION activity_append_only();
        CREATE TRIGGER activity_no_truncate BEFORE TRUNCATE ON activity
            FOR EACH STATEMENT EXECUTE FUNCTION activity_append_only();

        CREATE TABLE config_versions (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            sha TEXT,
            path TEXT,
            valid INTEGER NOT NULL,
            config TEXT,
            errors TEXT NOT NULL DEFAULT '[]',
            sources TEXT NOT NULL DEFAULT '[]',
            created_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX config_versions_repo ON config_versions (platform, repo, valid, id);

        CREATE TABLE reconcile_runs (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            trigger TEXT NOT NULL,
            commit_sha TEXT,
            mode TEXT NOT NULL,
            outcome TEXT NOT NULL,
            plan TEXT NOT NULL DEFAULT '[]',
            results TEXT NOT NULL DEFAULT '[]',
            errors TEXT NOT NULL DEFAULT '[]',
            started_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX reconcile_runs_repo ON reconcile_runs (platform, repo, id);

        CREATE TABLE claims (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            number INTEGER NOT NULL,
            holder TEXT NOT NULL,
            claimed_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            released_at DOUBLE PRECISION,
            release_reason TEXT,
            active INTEGER NOT NULL DEFAULT 1,
            granted_by TEXT
        );
        CREATE UNIQUE INDEX claims_one_active ON claims (platform, repo, number) WHERE active = 1;
        CREATE INDEX claims_by_holder ON claims (platform, lower(holder)) WHERE active = 1;
        CREATE INDEX claims_by_expiry ON claims (expires_at) WHERE active = 1;

        CREATE TABLE dependencies (
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            number INTEGER NOT NULL,
            dep_repo TEXT NOT NULL,
            dep_number INTEGER NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('command', 'body')),
            created_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (platform, repo, number, dep_repo, dep_number)
        );
        CREATE INDEX dependencies_reverse ON dependencies (platform, dep_repo, dep_number);

        CREATE TABLE issue_labels (
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            number INTEGER NOT NULL,
            labels TEXT NOT NULL,
            PRIMARY KEY (platform, repo, number)
        );

        CREATE TABLE worktrees (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            number INTEGER NOT NULL,
            branch TEXT NOT NULL,
            base TEXT NOT NULL,
            sha TEXT NOT NULL DEFAULT '',
            path TEXT NOT NULL,
            holder TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'kept', 'removed')),
            pull_number INTEGER,
            note TEXT NOT NULL DEFAULT '',
            answer_key TEXT NOT NULL DEFAULT '',
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            removed_at DOUBLE PRECISION
        );
        CREATE UNIQUE INDEX worktrees_one_live ON worktrees (platform, repo, number) WHERE state != 'removed';
        CREATE UNIQUE INDEX worktrees_live_branch ON worktrees (platform, repo, branch) WHERE state != 'removed';
        CREATE INDEX worktrees_by_issue ON worktrees (platform, repo, number);

        CREATE TABLE cleanup_branches (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            branch TEXT NOT NULL,
            sha TEXT NOT NULL,
            why TEXT NOT NULL DEFAULT '',
            committer TEXT NOT NULL DEFAULT '',
            committed_at DOUBLE PRECISION NOT NULL DEFAULT 0,
            state TEXT NOT NULL CHECK (state IN ('noticed', 'deleting', 'deleted', 'restored')),
            tag TEXT,
            noticed_at DOUBLE PRECISION NOT NULL,
            deleted_at DOUBLE PRECISION,
            updated_at DOUBLE PRECISION NOT NULL
        );
        CREATE UNIQUE INDEX cleanup_branches_open ON cleanup_branches (platform, repo, branch)
            WHERE state IN ('noticed', 'deleting');
        CREATE INDEX cleanup_branches_by_repo ON cleanup_branches (platform, repo, state);

        CREATE TABLE cleanup_pulls (
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            number INTEGER NOT NULL,
            head_ref TEXT NOT NULL,
            head_sha TEXT NOT NULL,
            merged INTEGER NOT NULL,
            author TEXT,
            closed_at DOUBLE PRECISION,
            updated_at DOUBLE PRECISION,
            PRIMARY KEY (platform, repo, number)
        );
        CREATE INDEX cleanup_pulls_by_head ON cleanup_pulls (platform, repo, head_ref);

        CREATE TABLE cleanup_dashboards (
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            number INTEGER NOT NULL,
            body TEXT NOT NULL DEFAULT '',
            updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (platform, repo)
        );

        -- Named leases: one holder at a time until `until` (the scheduler's leader, the worktree host).
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            until DOUBLE PRECISION NOT NULL,
            since DOUBLE PRECISION NOT NULL
        );
        """,
    ),
    (
        6,
        """
        -- The latest fire time each scheduled job was run for, and by whom: a job never runs twice
        -- for one fire time, even when leadership moves in the middle of a run (bot/engine/scheduler.py).
        CREATE TABLE job_runs (
            job TEXT PRIMARY KEY,
            fire_at DOUBLE PRECISION NOT NULL,
            holder TEXT NOT NULL,
            ran_at DOUBLE PRECISION NOT NULL
        );
        """,
    ),
)
