-- At most one job of a dedupe key runs at a time, held by the database as on PostgreSQL (where
-- two replicas claiming in the same instant could each start a job of one key). Claims on SQLite
-- go through its one writer and never made two such runs; the index keeps the rule the same on
-- both stores: a claim that would break it fails.
-- Runs that break it (every running job of a key but the oldest) are put back as failed, due at
-- once and under no lease: their workers' results will find no lease and change nothing.
UPDATE jobs SET state = 'failed', lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
       last_error = 'another job with its key was running',
       run_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
 WHERE state = 'running' AND dedupe_key IS NOT NULL
   AND id <> (SELECT MIN(r.id) FROM jobs r
               WHERE r.state = 'running' AND r.dedupe_key = jobs.dedupe_key);
CREATE UNIQUE INDEX jobs_dedupe_running ON jobs (dedupe_key) WHERE state = 'running' AND dedupe_key IS NOT NULL;
