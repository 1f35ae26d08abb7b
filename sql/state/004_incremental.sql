-- Incremental builds (transform.Build with Changed). Runs are numbered in
-- the order they start, so a build can ask which runs came after the one
-- whose build is published; ferry.model_builds remembers that run's number
-- and the structure fingerprint (models' SQL, config.*, raw.* columns)
-- that, when it changes, makes the next build a full one.
CREATE SEQUENCE IF NOT EXISTS ferry.run_seq;
CREATE TABLE IF NOT EXISTS ferry.run_order (
    run_id VARCHAR PRIMARY KEY,
    seq    BIGINT NOT NULL
);
ALTER TABLE ferry.model_builds ADD COLUMN structure VARCHAR;
ALTER TABLE ferry.model_builds ADD COLUMN seq BIGINT;
