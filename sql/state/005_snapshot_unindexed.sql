-- ferry.snapshot loses its PRIMARY KEY. DuckDB keeps a key's index in
-- memory, outside memory_limit, and INSERT OR REPLACE goes through it: at
-- 1,000,000 contacts (millions of snapshot rows) the commit ran out of
-- memory. The commit keeps one row per (entity, intercom_id, sf_id, field)
-- itself: it deletes the old values of what it inserts (queries.sql,
-- StageSnapshot and after).
CREATE TABLE ferry.snapshot_unindexed (
    entity      VARCHAR NOT NULL,   -- people | companies
    intercom_id VARCHAR NOT NULL,
    sf_id       VARCHAR NOT NULL,
    field       VARCHAR NOT NULL,   -- the Intercom attribute of the mapping
    value       VARCHAR,
    run_id      VARCHAR NOT NULL
);
INSERT INTO ferry.snapshot_unindexed SELECT entity, intercom_id, sf_id, field, value, run_id FROM ferry.snapshot;
DROP TABLE ferry.snapshot;
ALTER TABLE ferry.snapshot_unindexed RENAME TO snapshot;
