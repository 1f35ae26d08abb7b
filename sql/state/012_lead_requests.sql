-- People a teammate asked, from the Intercom inbox app (ferry serve's
-- "Create Lead"), to have a Salesforce Lead: they qualify for the
-- lead-capture workflow whatever its rule (int_lead_capture_qualified).
-- Kept once created: the Lead's email then matches, and no second Lead is
-- made.
CREATE TABLE IF NOT EXISTS ferry.lead_requests (
    intercom_id  VARCHAR PRIMARY KEY,
    admin_id     VARCHAR,             -- the teammate who asked
    requested_at TIMESTAMPTZ NOT NULL,
    run_id       VARCHAR NOT NULL     -- the run that recorded it
);
