-- A token new for every claim of a job. Renewing a lease and recording a result need the token
-- of the current claim, so a run that lost its lease (even one in the same process as the run
-- that took the job over) can neither extend it nor overwrite the new run's outcome.
ALTER TABLE jobs ADD COLUMN lease_token TEXT;
