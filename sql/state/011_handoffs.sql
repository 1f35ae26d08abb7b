-- Extraction workers' hand-offs merged into current state (ferry run
-- --hand-offs), recorded in the merge's transaction so that a manifest
-- left behind by a merge that stopped before deleting it is not merged
-- again.
CREATE TABLE IF NOT EXISTS ferry.handoffs (
    name          VARCHAR PRIMARY KEY, -- handoffs/<worker run id>.json
    worker_run_id VARCHAR NOT NULL,
    merged_by     VARCHAR NOT NULL,    -- the run that merged it
    merged_at     TIMESTAMPTZ NOT NULL
);
