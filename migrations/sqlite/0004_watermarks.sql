-- Named instants the bridge keeps (Unix milliseconds, UTC). 'files.exporting_since': when the
-- bridge started exporting files; the periodic file reconcile leaves files last changed before
-- it (less a safety margin) alone unless a backfill asks for them.
CREATE TABLE watermarks (
    name TEXT    PRIMARY KEY,
    at   INTEGER NOT NULL
);

-- An installation that exported files before this table existed started exporting no later than
-- its oldest recorded export; a new one stores the instant of its first start.
INSERT INTO watermarks (name, at)
SELECT 'files.exporting_since', oldest FROM (SELECT MIN(updated_at) AS oldest FROM exports) AS e
WHERE oldest IS NOT NULL;
