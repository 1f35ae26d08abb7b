-- materialized: incremental
-- record_ids: sf_id
-- description: Salesforce people an Intercom contact may match: live Contacts and unconverted Leads. Converted Leads are represented by the Contact they became.
WITH contacts AS (
    SELECT
        'Contact' AS sf_object,
        sf_id,
        email_norm,
        intercom_link,
        created_date,
        updated_at,
        1 AS type_rank
    FROM stg_salesforce__contacts
    WHERE NOT is_deleted
),

leads AS (
    SELECT
        'Lead' AS sf_object,
        sf_id,
        email_norm,
        intercom_link,
        created_date,
        updated_at,
        2 AS type_rank
    FROM stg_salesforce__leads
    WHERE NOT is_deleted
      AND NOT is_converted
),

final AS (
    SELECT * FROM contacts
    UNION ALL
    SELECT * FROM leads
)

SELECT * FROM final
