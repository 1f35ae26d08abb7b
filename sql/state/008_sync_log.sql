-- Every record a run planned to write, and what became of it: the table
-- operators read to answer "why didn't this record sync". source is the
-- plan line (a shipped model's "target op", or "sync <name>"); outcome is
-- done, rejected, gone (deleted, archived or merged in the target),
-- unknown (sent, answer lost: looked up next run), or not_written (planned,
-- but no write was made: its create failed, a message was already sent,
-- or the load stopped first).
CREATE TABLE IF NOT EXISTS ferry.sync_log (
    run_id     VARCHAR NOT NULL,
    source     VARCHAR NOT NULL,
    target     VARCHAR NOT NULL,
    object     VARCHAR NOT NULL,
    record_key VARCHAR NOT NULL,
    op         VARCHAR NOT NULL,
    outcome    VARCHAR NOT NULL,
    result_id  VARCHAR,
    detail     VARCHAR
);

-- The records of the plan being loaded, staged by the load before its
-- commit (the plan lives in a temporary table on its own connection).
CREATE TABLE IF NOT EXISTS ferry.sync_log_staged (
    run_id     VARCHAR NOT NULL,
    source     VARCHAR NOT NULL,
    target     VARCHAR NOT NULL,
    object     VARCHAR NOT NULL,
    record_key VARCHAR NOT NULL,
    op         VARCHAR NOT NULL
);
