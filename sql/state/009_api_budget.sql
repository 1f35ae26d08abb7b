-- ferry's Salesforce calls, for the rolling 24-hour budget
-- (connections.salesforce.budget.daily_calls). A run appends what it spent
-- as it goes: after its extraction, and when it ends, each row the calls
-- made since the last one, under the stage that made them. A process killed
-- between two rows loses the calls since the first: the org's own count
-- (Sforce-Limit-Info, min_daily_remaining) still guards it.
CREATE TABLE IF NOT EXISTS ferry.api_calls (
    run_id VARCHAR   NOT NULL,
    system VARCHAR   NOT NULL,
    stage  VARCHAR   NOT NULL,
    made_at TIMESTAMP NOT NULL,
    calls  INTEGER   NOT NULL
);

-- A planned record whose sync the budget deferred is logged 'deferred'.
ALTER TABLE ferry.sync_log_staged ADD COLUMN deferred BOOLEAN DEFAULT false;
