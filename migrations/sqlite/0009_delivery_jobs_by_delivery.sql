-- The links between deliveries and jobs, kept in delivery order only. The index by job that the
-- table had took an insert at a random place for every delivery (the jobs a burst coalesces into
-- are spread over the whole queue), a page of its own to write at every commit, and cost webhook
-- ingestion a sixth of its rate. A job's deliveries are found instead among the deliveries
-- received while the job could take them (`job_delivery_window` in `src/store/sqlite.rs`). Without a rowid, the
-- table is its primary key alone.
CREATE TABLE delivery_jobs_0009 (
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    job_id      INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, job_id)
) WITHOUT ROWID;
-- Links whose delivery is gone (deleted with foreign keys off) are left behind.
INSERT INTO delivery_jobs_0009 (delivery_id, job_id)
    SELECT delivery_id, job_id FROM delivery_jobs
    WHERE delivery_id IN (SELECT id FROM deliveries);
DROP TABLE delivery_jobs;
ALTER TABLE delivery_jobs_0009 RENAME TO delivery_jobs;
