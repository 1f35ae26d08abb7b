-- materialized: incremental
-- record_ids: sf_id
-- description: Current version of every OpportunityContactRole (deleted ones flagged), one row per Id.
SELECT
    id AS sf_id,
    "OpportunityId" AS opportunity_id,
    "ContactId" AS contact_id,
    "Role" AS role,
    coalesce("IsPrimary", false) AS is_primary,
    is_deleted
FROM raw.salesforce__opportunity_contact_role
