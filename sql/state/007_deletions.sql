-- Deletes a change feed does not show: records Intercom deleted, archived
-- or merged, and Salesforce records deleted for good (the recycle bin
-- emptied, a hard delete). Each is found one of three ways: a write that
-- named it was answered "gone" (how = 'write'), Salesforce's delete log
-- listed it ('log'), or a comparison of every live id with what ferry
-- holds missed it ('sweep'). The next extraction lands a tombstone for it
-- (the record's last version, marked deleted) and records the run in
-- landed_by; until then it is pending.
CREATE TABLE IF NOT EXISTS ferry.deletions (
    system      VARCHAR NOT NULL,
    object      VARCHAR NOT NULL,
    id          VARCHAR NOT NULL,
    deleted_at  TIMESTAMPTZ NOT NULL,
    merged_into VARCHAR,
    how         VARCHAR NOT NULL,
    found_by    VARCHAR NOT NULL,
    landed_by   VARCHAR
);

-- When each object's deletes were last looked for: how far Salesforce's
-- delete log has been read (log_covered) and when every id was last
-- compared (swept_at).
CREATE TABLE IF NOT EXISTS ferry.delete_checks (
    system      VARCHAR NOT NULL,
    object      VARCHAR NOT NULL,
    log_covered TIMESTAMPTZ,
    swept_at    TIMESTAMPTZ,
    PRIMARY KEY (system, object)
);
