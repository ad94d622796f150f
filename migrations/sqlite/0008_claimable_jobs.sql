-- Due jobs in the order they are claimed. Claiming takes the oldest due `queued` or `failed` jobs
-- (`ORDER BY run_at, id LIMIT n`); with only the (state, run_at) index that meant reading and
-- sorting every waiting job for each claim, slower the longer the backlog. This index hands them
-- out in claim order.
CREATE INDEX jobs_claimable ON jobs (run_at, id) WHERE state IN ('queued', 'failed');
