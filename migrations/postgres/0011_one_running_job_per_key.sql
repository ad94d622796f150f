-- At most one job of a dedupe key runs at a time. The claim already skips a job while another of
-- its key runs or an older one is due, but two replicas claiming in the same instant each saw the
-- other's job as not running: one claimed a retry the moment it came due, the other a newer job
-- of the same key. With this index the second claim fails and is run again, and then sees the
-- first job running.
-- Runs left over from that race (every running job of a key but the oldest) are put back as
-- failed, due at once and under no lease: their workers' results will find no lease and change
-- nothing, and the jobs run again one after the other.
UPDATE jobs SET state = 'failed', lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
       last_error = 'another job with its key was running',
       run_at = (FLOOR(EXTRACT(EPOCH FROM now()) * 1000))::BIGINT
 WHERE state = 'running' AND dedupe_key IS NOT NULL
   AND id <> (SELECT MIN(r.id) FROM jobs r
               WHERE r.state = 'running' AND r.dedupe_key = jobs.dedupe_key);
CREATE UNIQUE INDEX jobs_dedupe_running ON jobs (dedupe_key) WHERE state = 'running' AND dedupe_key IS NOT NULL;
