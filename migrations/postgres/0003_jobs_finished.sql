-- Finished jobs by age, for pruning succeeded and dead jobs after their retention.
CREATE INDEX jobs_finished ON jobs (state, updated_at);
