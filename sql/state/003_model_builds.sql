-- The published generation of models and the fingerprint of what they read
-- (transform.Inputs): a run whose inputs match it skips the transform.
-- One row; replaced at each build.
CREATE TABLE IF NOT EXISTS ferry.model_builds (
    inputs   VARCHAR NOT NULL,
    run_id   VARCHAR NOT NULL,
    built_at TIMESTAMPTZ NOT NULL
);
