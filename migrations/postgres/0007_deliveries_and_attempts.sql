-- Deliveries an operator can follow: every accepted webhook delivery with its source, event id,
-- trigger, request id and the jobs it created or coalesced into. DocSpace deliveries keep their
-- dedupe key (`docspace:<event.id>`); sources without event ids (Dropbox) have none. Pruned
-- after BRIDGE_DELIVERY_RETENTION like before.
ALTER TABLE deliveries RENAME TO deliveries_before_0007;
ALTER INDEX deliveries_received RENAME TO deliveries_before_0007_received;
CREATE TABLE deliveries (
    id          BIGSERIAL PRIMARY KEY,
    dedupe_key  TEXT    UNIQUE,
    source      TEXT    NOT NULL,
    event_id    TEXT,
    trigger     TEXT,
    request_id  TEXT,
    received_at BIGINT  NOT NULL
);
INSERT INTO deliveries (dedupe_key, source, event_id, received_at)
    SELECT id, 'docspace', substr(id, length('docspace:') + 1), received_at
    FROM deliveries_before_0007 ORDER BY received_at;
DROP TABLE deliveries_before_0007;
CREATE INDEX deliveries_received ON deliveries (received_at);
CREATE INDEX deliveries_source ON deliveries (source, id);

-- The jobs each delivery created or coalesced into.
CREATE TABLE delivery_jobs (
    delivery_id BIGINT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    job_id      BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, job_id)
);
CREATE INDEX delivery_jobs_job ON delivery_jobs (job_id);

-- Every run of a job: when it started and finished, how it ended and why.
CREATE TABLE job_attempts (
    id          BIGSERIAL PRIMARY KEY,
    job_id      BIGINT  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     BIGINT  NOT NULL,
    worker      TEXT    NOT NULL,
    started_at  BIGINT  NOT NULL,
    finished_at BIGINT  NOT NULL,
    outcome     TEXT    NOT NULL,
    error       TEXT
);
CREATE INDEX job_attempts_job ON job_attempts (job_id, id);

-- What a job is about, read from its payload, for the operator's filters.
ALTER TABLE jobs ADD COLUMN group_id TEXT GENERATED ALWAYS AS (payload::jsonb ->> 'group_id') STORED;
ALTER TABLE jobs ADD COLUMN file_id TEXT GENERATED ALWAYS AS (payload::jsonb ->> 'file_id') STORED;
CREATE INDEX jobs_group ON jobs (group_id, id) WHERE group_id IS NOT NULL;
CREATE INDEX jobs_file ON jobs (file_id, id) WHERE file_id IS NOT NULL;
