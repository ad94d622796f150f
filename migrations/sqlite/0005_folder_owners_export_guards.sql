-- A shared folder belongs to one group only. Mappings written before this rule may name the same
-- shared folder twice (a group that took over another's folder): the mapping written first
-- keeps it, the others forget the id and get a folder of their own on their next reconcile.
UPDATE group_folders SET shared_folder_id = NULL
WHERE shared_folder_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM group_folders o
    WHERE o.shared_folder_id = group_folders.shared_folder_id
      AND (o.updated_at < group_folders.updated_at
           OR (o.updated_at = group_folders.updated_at AND o.group_id < group_folders.group_id)));
CREATE UNIQUE INDEX group_folders_shared_folder ON group_folders (shared_folder_id)
    WHERE shared_folder_id IS NOT NULL;

-- One export of a file at a time across every replica: the export that holds a file's guard
-- renews it while it runs; a guard nobody renews (a crashed replica) expires with the job's
-- lease. It also keeps where a first export's commit was aimed, recorded before the commit, so
-- that an attempt after a lost commit answer recognises its own file instead of adding a copy.
CREATE TABLE export_guards (
    file_id          TEXT    PRIMARY KEY,
    holder           TEXT,
    expires_at       INTEGER NOT NULL,
    target_path      TEXT,
    target_hash      TEXT,
    target_version   INTEGER,
    updated_at       INTEGER NOT NULL
);
