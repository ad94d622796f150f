-- Jobs: the durable queue. Timestamps are Unix milliseconds (UTC).
CREATE TABLE jobs (
    id               BIGSERIAL PRIMARY KEY,
    kind             TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'dead')),
    attempts         BIGINT  NOT NULL DEFAULT 0,
    dedupe_key       TEXT,
    payload          TEXT    NOT NULL,
    last_error       TEXT,
    result           TEXT,
    run_at           BIGINT  NOT NULL,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
-- At most one queued job per dedupe key: later requests coalesce into it.
CREATE UNIQUE INDEX jobs_dedupe_queued ON jobs (dedupe_key) WHERE state = 'queued' AND dedupe_key IS NOT NULL;
CREATE INDEX jobs_due ON jobs (state, run_at);
CREATE INDEX jobs_kind ON jobs (kind, id);

-- DocSpace deliveries seen (event ids), for dedupe; pruned after the retention window.
CREATE TABLE deliveries (
    id          TEXT    PRIMARY KEY,
    received_at BIGINT  NOT NULL
);
CREATE INDEX deliveries_received ON deliveries (received_at);

-- DocSpace group id <-> Dropbox shared folder.
CREATE TABLE group_folders (
    group_id         TEXT    PRIMARY KEY,
    group_name       TEXT    NOT NULL,
    path             TEXT    NOT NULL,
    path_lower       TEXT    NOT NULL UNIQUE,
    shared_folder_id TEXT,
    active           BIGINT  NOT NULL DEFAULT 1,
    updated_at       BIGINT  NOT NULL
);

-- Members the bridge invited (so it only ever removes its own invitations).
CREATE TABLE group_members_added (
    group_id TEXT    NOT NULL,
    email    TEXT    NOT NULL,
    added_at BIGINT  NOT NULL,
    PRIMARY KEY (group_id, email)
);

-- Exported files: DocSpace file id and version <-> Dropbox path, rev, content hash.
CREATE TABLE exports (
    file_id            TEXT    PRIMARY KEY,
    docspace_version   BIGINT  NOT NULL,
    dropbox_path       TEXT    NOT NULL,
    dropbox_path_lower TEXT    NOT NULL,
    dropbox_id         TEXT,
    rev                TEXT    NOT NULL,
    content_hash       TEXT    NOT NULL,
    size               BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL
);
CREATE INDEX exports_path ON exports (dropbox_path_lower);

-- Dropbox change cursors per account.
CREATE TABLE dropbox_cursors (
    account_id TEXT    PRIMARY KEY,
    cursor     TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL
);
