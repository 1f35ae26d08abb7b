-- The runs of main.account_health_history written to
-- <data-dir>/exports/account_health_history/<run_id>.parquet. Recorded
-- after the file, so a run whose export failed is written by the next;
-- kept in the warehouse, so a worker whose data dir on object storage
-- starts from an empty cache does not write them all again.
CREATE TABLE IF NOT EXISTS ferry.history_exports (
    run_id      VARCHAR PRIMARY KEY,
    exported_at TIMESTAMPTZ NOT NULL
);
