-- materialized: table
-- description: Latest landed version of every OpportunityContactRole (deleted ones flagged), one row per Id.
WITH latest AS (
    SELECT * FROM ferry_latest('raw.salesforce__opportunity_contact_role')
),

final AS (
    SELECT
        id AS sf_id,
        json_extract_string(record, '$.OpportunityId') AS opportunity_id,
        json_extract_string(record, '$.ContactId') AS contact_id,
        json_extract_string(record, '$.Role') AS role,
        coalesce(CAST(json_extract(record, '$.IsPrimary') AS BOOLEAN), false) AS is_primary,
        is_deleted
    FROM latest
)

SELECT * FROM final
