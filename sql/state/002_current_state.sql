-- Current state: one table per extracted object in schema raw, holding the
-- latest landed version of every record (typed columns; deletes flagged),
-- merged from each run's delta in the transaction that commits the
-- watermarks. Landing files stay the append-only audit trail, readable as
-- the views landing.<object>.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS landing;

-- Before typed landing, raw.* were views over the landing files.
DROP VIEW IF EXISTS raw.intercom__contacts;
DROP VIEW IF EXISTS raw.intercom__companies;
DROP VIEW IF EXISTS raw.intercom__conversations;
DROP VIEW IF EXISTS raw.intercom__admins;
DROP VIEW IF EXISTS raw.intercom__tags;
DROP VIEW IF EXISTS raw.salesforce__lead;
DROP VIEW IF EXISTS raw.salesforce__contact;
DROP VIEW IF EXISTS raw.salesforce__account;
DROP VIEW IF EXISTS raw.salesforce__user;
DROP VIEW IF EXISTS raw.salesforce__opportunity;
DROP VIEW IF EXISTS raw.salesforce__opportunity_contact_role;
DROP VIEW IF EXISTS raw.salesforce__case;
DROP VIEW IF EXISTS raw.salesforce__task;

-- Type changes seen at a source, refused and reported.
CREATE TABLE IF NOT EXISTS ferry.schema_changes (
    run_id     VARCHAR NOT NULL,
    system     VARCHAR NOT NULL,
    object     VARCHAR NOT NULL,
    field      VARCHAR NOT NULL,
    old_type   VARCHAR,
    new_type   VARCHAR NOT NULL,
    change     VARCHAR NOT NULL,    -- added | type_changed
    seen_at    TIMESTAMPTZ NOT NULL
);
