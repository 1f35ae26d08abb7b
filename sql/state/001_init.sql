-- State of one ferry data dir: runs, watermarks, the write ledger, the
-- last-synced snapshot of every mapped field, in-flight Bulk jobs, rejects.
CREATE SCHEMA IF NOT EXISTS ferry;

CREATE TABLE IF NOT EXISTS ferry.runs (
    run_id      VARCHAR PRIMARY KEY,
    command     VARCHAR NOT NULL,
    pipeline    VARCHAR NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status      VARCHAR NOT NULL,   -- running | succeeded | rejects | failed
    exit_code   INTEGER,
    summary     VARCHAR,            -- JSON
    error       VARCHAR
);

CREATE TABLE IF NOT EXISTS ferry.watermarks (
    system     VARCHAR NOT NULL,
    object     VARCHAR NOT NULL,
    ts         TIMESTAMPTZ NOT NULL,
    last_id    VARCHAR NOT NULL,
    run_id     VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (system, object)
);

CREATE TABLE IF NOT EXISTS ferry.extracts (
    run_id    VARCHAR NOT NULL,
    system    VARCHAR NOT NULL,
    object    VARCHAR NOT NULL,
    mode      VARCHAR NOT NULL,     -- incremental | full_refresh | since
    lower_ts  TIMESTAMPTZ,
    upper_ts  TIMESTAMPTZ NOT NULL,
    rows      BIGINT NOT NULL,
    files     VARCHAR NOT NULL,     -- JSON array of landing files
    requests  BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS ferry.snapshot (
    entity      VARCHAR NOT NULL,   -- people | companies
    intercom_id VARCHAR NOT NULL,
    sf_id       VARCHAR NOT NULL,
    field       VARCHAR NOT NULL,   -- the Intercom attribute of the mapping
    value       VARCHAR,
    run_id      VARCHAR NOT NULL,
    PRIMARY KEY (entity, intercom_id, sf_id, field)
);

CREATE TABLE IF NOT EXISTS ferry.ledger (
    run_id       VARCHAR NOT NULL,
    target       VARCHAR NOT NULL,  -- intercom | salesforce
    object       VARCHAR NOT NULL,
    record_key   VARCHAR NOT NULL,
    op           VARCHAR NOT NULL,  -- create | update | upsert | attach
    payload_hash VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,  -- pending | done | rejected
    result_id    VARCHAR,
    error        VARCHAR,
    written_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS ferry.bulk_jobs (
    job_id      VARCHAR PRIMARY KEY,
    run_id      VARCHAR NOT NULL,
    object      VARCHAR NOT NULL,
    operation   VARCHAR NOT NULL,
    state       VARCHAR NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS ferry.rejects (
    run_id     VARCHAR NOT NULL,
    target     VARCHAR NOT NULL,
    object     VARCHAR NOT NULL,
    record_key VARCHAR NOT NULL,
    op         VARCHAR NOT NULL,
    error      VARCHAR NOT NULL,
    payload    VARCHAR NOT NULL
);
