-- The client_modified timestamp a first export's commit carries, kept with its intent: a file
-- found later with the intent's bytes is the export's only if it carries that timestamp too (a
-- copy someone uploaded carries their file's own).
ALTER TABLE export_guards ADD COLUMN target_stamp TEXT;
