-- materialized: table
-- description: Outbound to Intercom: one row per changed attribute of an existing contact or company.
WITH changes AS (
    SELECT
        merged.entity,
        merged.intercom_id,
        merged.intercom_field AS field,
        merged.merged_value AS value,
        merged.value_type
    FROM int_merged_fields AS merged
    WHERE merged.winner = 'salesforce'
      AND merged.direction <> 'to_salesforce'
),

final AS (
    SELECT
        changes.entity,
        changes.intercom_id,
        CASE WHEN changes.entity = 'companies' THEN companies.company_id END AS company_id,
        changes.field,
        changes.value,
        changes.value_type
    FROM changes
    LEFT JOIN stg_intercom__companies AS companies
        ON companies.intercom_id = changes.intercom_id
)

SELECT * FROM final
