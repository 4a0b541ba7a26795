"""Numbered schema migrations, applied in order at start. Never edit one that has shipped: add a new one."""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        -- One row per webhook delivery; `id` is the arrival order.
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            delivery_id TEXT NOT NULL,
            event TEXT NOT NULL,
            event_type TEXT,
            content_type TEXT NOT NULL,
            body BLOB NOT NULL,
            received_at REAL NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'done', 'ignored', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL,
            action TEXT,
            repo TEXT,
            subject TEXT,
            last_error TEXT,
            finished_at REAL,
            UNIQUE (platform, delivery_id)
        );
        -- Only unfinished and dead deliveries are indexed by state: every index is written on
        -- each insert, and the finished ones are most of the table.
        CREATE INDEX deliveries_open ON deliveries (id) WHERE status IN ('pending', 'running', 'dead');

        -- One row, rewritten by the readiness probe to prove the database takes writes.
        CREATE TABLE heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), at REAL NOT NULL);

        -- Idempotency keys of effects already applied (comments posted, labels added...).
        CREATE TABLE effects (
            key TEXT PRIMARY KEY,
            delivery_id TEXT,
            created_at REAL NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}'
        );

        -- Append-only, hash-chained record of what the bot did and why.
        CREATE TABLE activity (
            id INTEGER PRIMARY KEY,
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
        CREATE TRIGGER activity_no_update BEFORE UPDATE ON activity
            BEGIN SELECT RAISE(ABORT, 'the activity log is append-only'); END;
        CREATE TRIGGER activity_no_delete BEFORE DELETE ON activity
            BEGIN SELECT RAISE(ABORT, 'the activity log is append-only'); END;
        """,
    ),
    (
        2,
        """
        -- Every version of a repository's config file forgebot has read; the newest valid one
        -- is in force, so an invalid push never changes what the bot does.
        CREATE TABLE config_versions (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            sha TEXT,
            path TEXT,
            valid INTEGER NOT NULL,
            config TEXT,
            errors TEXT NOT NULL DEFAULT '[]',
            sources TEXT NOT NULL DEFAULT '[]',
            created_at REAL NOT NULL
        );
        CREATE INDEX config_versions_repo ON config_versions (platform, repo, valid, id);

        -- One row per reconcile of one repository: what was planned, what happened.
        CREATE TABLE reconcile_runs (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            trigger TEXT NOT NULL,
            commit_sha TEXT,
            mode TEXT NOT NULL,
            outcome TEXT NOT NULL,
            plan TEXT NOT NULL DEFAULT '[]',
            results TEXT NOT NULL DEFAULT '[]',
            errors TEXT NOT NULL DEFAULT '[]',
            started_at REAL NOT NULL,
            finished_at REAL NOT NULL
        );
        CREATE INDEX reconcile_runs_repo ON reconcile_runs (platform, repo, id);
        """,
    ),
    (
        3,
        """
        -- Claims: who works on an issue, until when. One active claim per issue, by index.
        CREATE TABLE claims (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            number INTEGER NOT NULL,
            holder TEXT NOT NULL,
            claimed_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            released_at REAL,
            release_reason TEXT,
            active INTEGER NOT NULL DEFAULT 1
        );
        CREATE UNIQUE INDEX claims_one_active ON claims (platform, repo, number) WHERE active = 1;
        CREATE INDEX claims_by_holder ON claims (platform, holder) WHERE active = 1;
        CREATE INDEX claims_by_expiry ON claims (expires_at) WHERE active = 1;

        -- "issue depends on dep": declared by a command or by a line in the issue's body.
        CREATE TABLE dependencies (
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            number INTEGER NOT NULL,
            dep_repo TEXT NOT NULL,
            dep_number INTEGER NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('command', 'body')),
            created_at REAL NOT NULL,
            PRIMARY KEY (platform, repo, number, dep_repo, dep_number)
        );
        CREATE INDEX dependencies_reverse ON dependencies (platform, dep_repo, dep_number);

        -- The label set last seen per issue (Gitea's label events carry no delta).
        CREATE TABLE issue_labels (
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            number INTEGER NOT NULL,
            labels TEXT NOT NULL,
            PRIMARY KEY (platform, repo, number)
        );
        """,
    ),
    (
        4,
        """
        -- How `body` is stored: NULL for the bytes as received, 'lz4' for an LZ4 block (bot/bodies.py).
        ALTER TABLE deliveries ADD COLUMN body_encoding TEXT CHECK (body_encoding IS NULL OR body_encoding = 'lz4');
        """,
    ),
    (
        5,
        """
        -- The delivery that granted a claim: its retry is the same claim, not a renewal.
        ALTER TABLE claims ADD COLUMN granted_by TEXT;
        """,
    ),
    (
        6,
        """
        -- When a delivery was last replayed: a rate limit's patience counts from then, not from receipt.
        ALTER TABLE deliveries ADD COLUMN replayed_at REAL;
        """,
    ),
    (
        7,
        """
        -- The failed deliveries (`forgebot deliveries --failed`): dead letters and those waiting
        -- for a retry. `deliveries_open` holds every pending row, so during a backlog listing the
        -- failed ones through it read the whole backlog. This index holds only the failed rows;
        -- its WHERE is the listing's, term for term, which is what lets SQLite use it.
        CREATE INDEX deliveries_failed ON deliveries (id)
            WHERE status IN ('pending', 'running', 'dead') AND (status = 'dead' OR last_error IS NOT NULL);
        """,
    ),
    (
        8,
        """
        -- One row per started issue: its branch and git worktree on the bot's host (handlers/worktrees.py).
        -- `state`: creating (a /start is under way, or was interrupted), ready, kept (its removal
        -- was due but it holds uncommitted work: `note` says why), removed.
        CREATE TABLE worktrees (
            id INTEGER PRIMARY KEY,
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
            answer_key TEXT NOT NULL DEFAULT '',  -- the marker of the comment that answers the start
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            removed_at REAL
        );
        CREATE UNIQUE INDEX worktrees_one_live ON worktrees (platform, repo, number) WHERE state != 'removed';
        CREATE UNIQUE INDEX worktrees_live_branch ON worktrees (platform, repo, branch) WHERE state != 'removed';
        CREATE INDEX worktrees_by_issue ON worktrees (platform, repo, number);
        """,
    ),
    (
        9,
        """
        -- Stale-branch cleanup (bot/cleanup/). One row per branch forgebot has put on a repository's
        -- dashboard. `state`: noticed (listed; deleted once `grace` has passed), deleting (the
        -- archive-and-delete push was sent: a restart checks the forge to finish the row), deleted
        -- (gone, archived to `tag` when it had commits the default branch lacks), restored.
        -- `sha` is the head that was evaluated; a branch that moves is taken off, never deleted.
        CREATE TABLE cleanup_branches (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            branch TEXT NOT NULL,
            sha TEXT NOT NULL,
            why TEXT NOT NULL DEFAULT '',
            committer TEXT NOT NULL DEFAULT '',
            committed_at REAL NOT NULL DEFAULT 0,
            state TEXT NOT NULL CHECK (state IN ('noticed', 'deleting', 'deleted', 'restored')),
            tag TEXT,
            noticed_at REAL NOT NULL,
            deleted_at REAL,
            updated_at REAL NOT NULL
        );
        CREATE UNIQUE INDEX cleanup_branches_open ON cleanup_branches (platform, repo, branch)
            WHERE state IN ('noticed', 'deleting');
        CREATE INDEX cleanup_branches_by_repo ON cleanup_branches (platform, repo, state);

        -- Closed pull requests as cleanup last read them (newest first, until the previous read), so a
        -- run reads one page of pull requests, not all of them; `updated_at` is the watermark.
        CREATE TABLE cleanup_pulls (
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            number INTEGER NOT NULL,
            head_ref TEXT NOT NULL,
            head_sha TEXT NOT NULL,
            merged INTEGER NOT NULL,
            author TEXT,
            closed_at REAL,
            updated_at REAL,
            PRIMARY KEY (platform, repo, number)
        );
        CREATE INDEX cleanup_pulls_by_head ON cleanup_pulls (platform, repo, head_ref);

        -- The "Stale branches" issue of each repository, and what it last said (edited only on change).
        CREATE TABLE cleanup_dashboards (
            platform TEXT NOT NULL,
            repo TEXT NOT NULL,
            number INTEGER NOT NULL,
            body TEXT NOT NULL DEFAULT '',
            updated_at REAL NOT NULL,
            PRIMARY KEY (platform, repo)
        );
        """,
    ),
    (
        10,
        """
        -- Named leases: one holder at a time until `until` (the scheduler's leader, the worktree
        -- host). One process on SQLite holds them all; the rows make it run the same code as
        -- replicas on PostgreSQL do.
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            until REAL NOT NULL,
            since REAL NOT NULL
        );

        -- The latest fire time each scheduled job was run for, and by whom: a job never runs twice
        -- for one fire time, even when leadership moves in the middle of a run.
        CREATE TABLE job_runs (
            job TEXT PRIMARY KEY,
            fire_at REAL NOT NULL,
            holder TEXT NOT NULL,
            ran_at REAL NOT NULL
        );
        """,
    ),
    (
        11,
        """
        -- The per-user cap counts a login's active claims in any spelling (lower(holder)): index
        -- that expression, as PostgreSQL's schema does, so a claim does not scan every active claim.
        DROP INDEX claims_by_holder;
        CREATE INDEX claims_by_holder ON claims (platform, lower(holder)) WHERE active = 1;
        """,
    ),
)
