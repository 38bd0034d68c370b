"""Numbered, forward-only schema migrations; the version lives in `PRAGMA user_version`.

Append new steps; never edit a released one. Each step runs in one transaction with the version bump.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the task log and per-member settings.
    """
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        provider_task_id TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('imagine', 'vary', 'upscale')),
        parent_id TEXT REFERENCES tasks(id) ON DELETE SET NULL,
        parent_provider_task_id TEXT,
        image_index INTEGER CHECK (image_index BETWEEN 1 AND 4),
        strength TEXT CHECK (strength IN ('subtle', 'strong')),
        prompt TEXT,
        remix_prompt TEXT,
        request_key TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        guild_id INTEGER,
        channel_id INTEGER,
        state TEXT NOT NULL CHECK (state IN
            ('queued', 'submitted', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled')),
        progress INTEGER NOT NULL DEFAULT 0,
        error_code TEXT,
        error_message TEXT,
        result_urls TEXT NOT NULL DEFAULT '[]',
        result_message_id INTEGER,
        cost TEXT,
        create_started_at REAL,
        create_uncertain INTEGER NOT NULL DEFAULT 0,
        status_reads INTEGER NOT NULL DEFAULT 0,
        poll_count INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        submitted_at REAL,
        last_checked_at REAL,
        next_check_at REAL,
        last_progress_at REAL,
        finished_at REAL,
        delivered_at REAL,
        delivery_attempts INTEGER NOT NULL DEFAULT 0,
        next_delivery_at REAL,
        delivery_error TEXT
    );
    CREATE INDEX tasks_user_log ON tasks (user_id, created_at DESC);
    CREATE INDEX tasks_provider_id ON tasks (provider, provider_task_id);
    CREATE INDEX tasks_due ON tasks (next_check_at) WHERE state IN ('queued', 'submitted', 'running');
    CREATE INDEX tasks_undelivered ON tasks (next_delivery_at)
        WHERE delivered_at IS NULL AND state IN ('succeeded', 'failed', 'timed_out', 'cancelled');
    CREATE TABLE user_settings (
        user_id INTEGER PRIMARY KEY,
        strength TEXT NOT NULL DEFAULT 'strong' CHECK (strength IN ('subtle', 'strong')),
        remix INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL
    );
    """,
    # 2: store health probe, per-guild admin pause, and the indexes the daily limits read.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta (key, value) VALUES ('heartbeat', '0');
    CREATE TABLE guild_controls (
        guild_id INTEGER PRIMARY KEY,
        paused INTEGER NOT NULL DEFAULT 0,
        paused_by INTEGER,
        paused_at REAL
    );
    CREATE INDEX tasks_guild_day ON tasks (guild_id, created_at);
    CREATE INDEX tasks_request_key ON tasks (user_id, request_key)
        WHERE state IN ('queued', 'submitted', 'running');
    """,
    # 3: leases, so only one process works on a due task at a time (the PostgreSQL store shares the
    # API; on SQLite one process owns the file, but the engine is written once for both).
    """
    ALTER TABLE tasks ADD COLUMN claimed_by TEXT;
    ALTER TABLE tasks ADD COLUMN lease_until REAL;
    """,
]

LATEST = len(MIGRATIONS)
