-- Members Dropbox refused for good (bad address, outside the team, unverified email): asked
-- again only after BRIDGE_REFUSAL_RETRY, not on every reconcile.
CREATE TABLE group_member_refusals (
    group_id   TEXT    NOT NULL,
    email      TEXT    NOT NULL,
    tag        TEXT    NOT NULL,
    refused_at INTEGER NOT NULL,
    PRIMARY KEY (group_id, email)
);
