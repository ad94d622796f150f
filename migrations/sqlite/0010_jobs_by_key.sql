-- A job is not claimed while another job with its dedupe key runs, nor while an older one with
-- its key is due too: the claim looks the key up among the running and the waiting jobs.
CREATE INDEX jobs_key_state ON jobs (dedupe_key, state) WHERE dedupe_key IS NOT NULL;
