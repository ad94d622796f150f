-- A job is not claimed while another job with its dedupe key runs: the claim looks the key up
-- among the running jobs, a handful of rows.
CREATE INDEX jobs_running_key ON jobs (dedupe_key) WHERE state = 'running' AND dedupe_key IS NOT NULL;
