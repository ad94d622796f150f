-- `group.sync` and `group.delete` of one group both reconcile it and now share the key
-- `group:<id>`; every `dropbox.changes` job reads the bridge's one cursor and they now share the
-- key `dropbox.changes`. A job of a key never runs while another does, so the two kinds of one
-- group, or two change readings, no longer run at once.
-- Where two queued or two running jobs would get one key (which the unique indexes forbid), all
-- but the oldest wait as failed, due at once and under no lease: the claim then runs them one
-- after the other (the results of workers still running them find no lease and change nothing).
UPDATE jobs SET state = 'failed', lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
       last_error = 'another job with its key was queued or running',
       run_at = LEAST(run_at, (FLOOR(EXTRACT(EPOCH FROM now()) * 1000))::BIGINT)
 WHERE state IN ('queued', 'running')
   AND EXISTS (
       SELECT 1 FROM jobs o
        WHERE o.state = jobs.state AND o.id < jobs.id
          AND CASE WHEN o.dedupe_key LIKE 'group.sync:%' THEN 'group:' || substr(o.dedupe_key, 12)
                   WHEN o.dedupe_key LIKE 'group.delete:%' THEN 'group:' || substr(o.dedupe_key, 14)
                   WHEN o.dedupe_key LIKE 'dropbox.changes:%' THEN 'dropbox.changes' END
            = CASE WHEN jobs.dedupe_key LIKE 'group.sync:%' THEN 'group:' || substr(jobs.dedupe_key, 12)
                   WHEN jobs.dedupe_key LIKE 'group.delete:%' THEN 'group:' || substr(jobs.dedupe_key, 14)
                   WHEN jobs.dedupe_key LIKE 'dropbox.changes:%' THEN 'dropbox.changes' END);
UPDATE jobs SET dedupe_key = 'group:' || substr(dedupe_key, 12) WHERE dedupe_key LIKE 'group.sync:%';
UPDATE jobs SET dedupe_key = 'group:' || substr(dedupe_key, 14) WHERE dedupe_key LIKE 'group.delete:%';
UPDATE jobs SET dedupe_key = 'dropbox.changes' WHERE dedupe_key LIKE 'dropbox.changes:%';
