-- materialized: table
-- description: Outbound to Intercom: one row per changed attribute of an existing contact or company.
WITH changes AS (
    SELECT
        merged.entity,
        merged.intercom_id,
        merged.intercom_field AS field,
        merged.intercom_value AS value, -- in Intercom's vocabulary (a value map)
        merged.value_type
    FROM int_merged_fields AS merged
    WHERE merged.winner = 'salesforce'
      AND merged.direction <> 'to_salesforce'
),

stage_settings AS (
    SELECT
        max(CASE WHEN key = 'stage_enabled' THEN value = 'true' END) AS enabled,
        max(CASE WHEN key = 'stage_attribute' THEN value END) AS field
    FROM config.settings
),

ranked_stages AS (
    -- One opportunity per contact, chosen by business order only (never by
    -- modification stamps, which ferry's own writes move): open before
    -- closed, the open one closing soonest, else the latest closed, then Id.
    SELECT
        roles.contact_id,
        opportunities.stage,
        row_number() OVER (
            PARTITION BY roles.contact_id
            ORDER BY opportunities.is_closed,
                     CASE WHEN NOT opportunities.is_closed THEN opportunities.close_date END ASC NULLS LAST,
                     opportunities.close_date DESC,
                     opportunities.sf_id
        ) AS stage_rank
    FROM stg_salesforce__opportunity_contact_roles AS roles
    INNER JOIN stg_salesforce__opportunities AS opportunities
        ON opportunities.sf_id = roles.opportunity_id
    WHERE NOT roles.is_deleted AND NOT opportunities.is_deleted
),

contact_stages AS (
    SELECT contact_id, stage FROM ranked_stages WHERE stage_rank = 1
),

stage_changes AS (
    SELECT
        'people' AS entity,
        people.intercom_id,
        settings.field,
        contact_stages.stage AS value,
        'string' AS value_type
    FROM contact_stages
    INNER JOIN int_people_identity AS people
        ON people.sf_id = contact_stages.contact_id
    INNER JOIN stg_intercom__contacts AS contacts
        ON contacts.intercom_id = people.intercom_id
    CROSS JOIN stage_settings AS settings
    LEFT JOIN int_configured_values AS held
        ON held.record_id = contacts.intercom_id
        AND held.field = settings.field
    WHERE settings.enabled
      AND contact_stages.stage IS DISTINCT FROM held.value
),

-- Whose Salesforce owner each matched contact follows: its Contact's or
-- Lead's, or (owner_routing.by: account) its Account's, a Lead's own.
routed_people AS (
    SELECT
        people.intercom_id,
        CASE WHEN (SELECT value = 'account' FROM config.settings WHERE key = 'owner_routing_by')
             THEN coalesce(accounts.owner_id, sf_contacts.owner_id, sf_leads.owner_id)
             ELSE coalesce(sf_contacts.owner_id, sf_leads.owner_id) END AS owner_id
    FROM int_people_identity AS people
    LEFT JOIN stg_salesforce__contacts AS sf_contacts
        ON sf_contacts.sf_id = people.sf_id
    LEFT JOIN stg_salesforce__leads AS sf_leads
        ON sf_leads.sf_id = people.sf_id
    LEFT JOIN stg_salesforce__accounts AS accounts
        ON accounts.sf_id = sf_contacts.account_id
        AND NOT accounts.is_deleted
    WHERE (SELECT value = 'true' FROM config.settings WHERE key = 'owner_routing_enabled')
),

owner_changes AS (
    -- Route each matched contact to the Intercom admin who owns it in
    -- Salesforce (matched by email).
    SELECT
        'people' AS entity,
        routed.intercom_id,
        'owner_id' AS field,
        admins.admin_id AS value,
        'integer' AS value_type
    FROM routed_people AS routed
    INNER JOIN stg_intercom__contacts AS contacts
        ON contacts.intercom_id = routed.intercom_id
    INNER JOIN stg_salesforce__users AS users
        ON users.sf_id = routed.owner_id
    INNER JOIN stg_intercom__admins AS admins
        ON admins.email_norm = users.email_norm
    WHERE admins.admin_id IS DISTINCT FROM contacts.owner_id
),

all_changes AS (
    SELECT * FROM changes
    UNION ALL
    SELECT * FROM owner_changes
    UNION ALL
    SELECT * FROM stage_changes
    UNION ALL
    SELECT 'companies', record_id, field, value, value_type FROM health_outbound WHERE target = 'intercom'
),

final AS (
    SELECT
        changes.entity,
        changes.intercom_id,
        CASE WHEN changes.entity = 'companies' THEN companies.company_id END AS company_id,
        changes.field,
        changes.value,
        changes.value_type
    FROM all_changes AS changes
    LEFT JOIN stg_intercom__companies AS companies
        ON companies.intercom_id = changes.intercom_id
)

SELECT * FROM final
