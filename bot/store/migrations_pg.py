"""Numbered, forward-only schema migrations for PostgreSQL; the version lives in `schema_version`.

The steps mirror the SQLite ones number for number, so a version means the same schema on both.
Append new steps; never edit a released one. `PostgresStore.migrate` runs each step in one
transaction with the version bump, under an advisory lock, so processes starting together migrate once.

Times are DOUBLE PRECISION epoch seconds, as on SQLite, so both backends hand out the same records.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the task log and per-member settings. `seq` orders tasks created in the same instant, as
    # SQLite's rowid does; Discord ids are 64-bit, hence BIGINT.
    """
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        provider TEXT NOT NULL,
        provider_task_id TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('imagine', 'vary', 'upscale')),
        parent_id TEXT REFERENCES tasks(id) ON DELETE SET NULL DEFERRABLE INITIALLY IMMEDIATE,
        parent_provider_task_id TEXT,
        image_index INTEGER CHECK (image_index BETWEEN 1 AND 4),
        strength TEXT CHECK (strength IN ('subtle', 'strong')),
        prompt TEXT,
        remix_prompt TEXT,
        request_key TEXT NOT NULL,
        user_id BIGINT NOT NULL,
        guild_id BIGINT,
        channel_id BIGINT,
        state TEXT NOT NULL CHECK (state IN
            ('queued', 'submitted', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled')),
        progress INTEGER NOT NULL DEFAULT 0,
        error_code TEXT,
        error_message TEXT,
        result_urls TEXT NOT NULL DEFAULT '[]',
        result_message_id BIGINT,
        cost NUMERIC,
        create_started_at DOUBLE PRECISION,
        create_uncertain BOOLEAN NOT NULL DEFAULT FALSE,
        status_reads INTEGER NOT NULL DEFAULT 0,
        poll_count INTEGER NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL,
        submitted_at DOUBLE PRECISION,
        last_checked_at DOUBLE PRECISION,
        next_check_at DOUBLE PRECISION,
        last_progress_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION,
        delivered_at DOUBLE PRECISION,
        delivery_attempts INTEGER NOT NULL DEFAULT 0,
        next_delivery_at DOUBLE PRECISION,
        delivery_error TEXT
    );
    CREATE INDEX tasks_user_log ON tasks (user_id, created_at DESC);
    CREATE INDEX tasks_provider_id ON tasks (provider, provider_task_id);
    CREATE INDEX tasks_due ON tasks (next_check_at) WHERE state IN ('queued', 'submitted', 'running');
    CREATE INDEX tasks_undelivered ON tasks (next_delivery_at)
        WHERE delivered_at IS NULL AND state IN ('succeeded', 'failed', 'timed_out', 'cancelled');
    CREATE TABLE user_settings (
        user_id BIGINT PRIMARY KEY,
        strength TEXT NOT NULL DEFAULT 'strong' CHECK (strength IN ('subtle', 'strong')),
        remix BOOLEAN NOT NULL DEFAULT FALSE,
        updated_at DOUBLE PRECISION NOT NULL
    );
    """,
    # 2: store health probe, per-guild admin pause, and the indexes the daily limits read.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta (key, value) VALUES ('heartbeat', '0');
    CREATE TABLE guild_controls (
        guild_id BIGINT PRIMARY KEY,
        paused BOOLEAN NOT NULL DEFAULT FALSE,
        paused_by BIGINT,
        paused_at DOUBLE PRECISION
    );
    CREATE INDEX tasks_guild_day ON tasks (guild_id, created_at);
    CREATE INDEX tasks_request_key ON tasks (user_id, request_key)
        WHERE state IN ('queued', 'submitted', 'running');
    """,
    # 3: leases, so only one process works on a due task at a time.
    """
    ALTER TABLE tasks ADD COLUMN claimed_by TEXT;
    ALTER TABLE tasks ADD COLUMN lease_until DOUBLE PRECISION;
    """,
]

LATEST = len(MIGRATIONS)

# The version table itself: one row, created under the migration lock before the first step.
VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    version INTEGER NOT NULL
);
INSERT INTO schema_version (version) VALUES (0) ON CONFLICT (only_row) DO NOTHING;
"""
