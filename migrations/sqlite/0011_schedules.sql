-- When each periodic job (named by its kind) is next due, in Unix milliseconds by the
-- database's clock. Every replica's scheduler takes a run from here, so a run happens once per
-- interval however many replicas there are.
CREATE TABLE schedules (
    name    TEXT    PRIMARY KEY,
    next_at INTEGER NOT NULL
);
