-- The schema made by MitraSETI 0.3.0 before Alembic (storage/database.py MIGRATIONS
-- "0001_platform" and jobs/store.py "0002_jobs"), recorded in schema_migrations.
-- tests/server/test_database.py builds a database with it and upgrades that.
CREATE TABLE users (
    user_id      TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    tier         TEXT NOT NULL,
    external_sub TEXT UNIQUE,
    created_at   INTEGER NOT NULL
);
CREATE TABLE api_keys (
    key_id     TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    digest     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    active     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);
CREATE TABLE uploads (
    upload_id    TEXT PRIMARY KEY,
    file_key     TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    filename     TEXT NOT NULL,
    size         INTEGER,
    multipart    INTEGER NOT NULL DEFAULT 0,
    parts        INTEGER NOT NULL DEFAULT 1,
    state        TEXT NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'complete', 'aborted')),
    created_at   INTEGER NOT NULL,
    completed_at INTEGER
);
CREATE INDEX uploads_state ON uploads (state, created_at);
CREATE INDEX uploads_key ON uploads (file_key);
CREATE TABLE reports (
    report_id   TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    error_type  TEXT,
    description TEXT,
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id        TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'submitted'
                  CHECK (status IN ('submitted', 'processing', 'complete', 'failed')),
    file_key      TEXT NOT NULL,
    filename      TEXT NOT NULL,
    source_name   TEXT NOT NULL,
    file_size     INTEGER NOT NULL DEFAULT 0,
    params        TEXT NOT NULL DEFAULT '{}',
    webhook_url   TEXT,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    completed_at  INTEGER,
    error         TEXT,
    results       TEXT,
    exports       TEXT NOT NULL DEFAULT '{}',
    exports_ready INTEGER NOT NULL DEFAULT 0,
    progress      TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    pid           INTEGER,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_user_created ON jobs (user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created_at);
CREATE TABLE IF NOT EXISTS job_usage (
    user_id TEXT NOT NULL,
    month   TEXT NOT NULL,
    jobs    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, month)
);
CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL);
INSERT INTO schema_migrations VALUES ('0001_platform', 1760000000), ('0002_jobs', 1760000000);
