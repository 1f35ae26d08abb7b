-- materialized: table
-- description: Salesforce Contacts with an email that match no Intercom contact, to be created as Intercom users. One row per attribute; the new contact's id is written back to the Contact's external id.
WITH enabled AS (
    SELECT value = 'true' AS is_enabled FROM config.settings WHERE key = 'create_intercom_contacts'
),

intercom_emails AS (
    SELECT email_norm FROM stg_intercom__contacts WHERE email_norm IS NOT NULL
),

candidates AS (
    SELECT
        contacts.sf_id,
        contacts.email,
        contacts.name,
        contacts.owner_id,
        contacts.account_id
    FROM stg_salesforce__contacts AS contacts
    WHERE NOT contacts.is_deleted
      AND contacts.email_norm IS NOT NULL
      AND contacts.intercom_link IS NULL
      AND contacts.sf_id NOT IN (SELECT sf_id FROM int_people_identity)
      AND contacts.email_norm NOT IN (SELECT email_norm FROM intercom_emails)
      AND (SELECT is_enabled FROM enabled)
),

routed_candidates AS (
    SELECT
        candidates.sf_id,
        CASE WHEN (SELECT value = 'account' FROM config.settings WHERE key = 'owner_routing_by')
             THEN coalesce(accounts.owner_id, candidates.owner_id) ELSE candidates.owner_id END AS owner_id
    FROM candidates
    LEFT JOIN stg_salesforce__accounts AS accounts
        ON accounts.sf_id = candidates.account_id
        AND NOT accounts.is_deleted
),

routed_owners AS (
    SELECT candidates.sf_id, admins.admin_id
    FROM routed_candidates AS candidates
    INNER JOIN stg_salesforce__users AS users
        ON users.sf_id = candidates.owner_id
    INNER JOIN stg_intercom__admins AS admins
        ON admins.email_norm = users.email_norm
    WHERE (SELECT value = 'true' FROM config.settings WHERE key = 'owner_routing_enabled')
),

final AS (
    SELECT sf_id AS record_key, 'owner_id' AS field, admin_id AS value, 'integer' AS value_type FROM routed_owners
    UNION ALL
    SELECT sf_id AS record_key, 'role' AS field, 'user' AS value, 'string' AS value_type FROM candidates
    UNION ALL
    SELECT sf_id, 'email', trim(email), 'string' FROM candidates
    UNION ALL
    SELECT sf_id, 'name', name, 'string' FROM candidates WHERE name IS NOT NULL
    UNION ALL
    SELECT
        candidates.sf_id,
        field_map.intercom_field,
        -- In Intercom's vocabulary (a value map); a value the map lacks is
        -- left out of the contact.
        CASE WHEN field_map.has_values THEN back.intercom_value ELSE ferry_norm(held.value, field_map.value_type) END,
        field_map.value_type
    FROM candidates
    INNER JOIN config.field_map AS field_map
        ON field_map.entity = 'people' AND field_map.direction <> 'to_salesforce'
    INNER JOIN int_configured_values AS held
        ON held.record_id = candidates.sf_id
        AND held.field = field_map.salesforce_field
    LEFT JOIN config.value_map AS back
        ON back.entity = field_map.entity
        AND back.position = field_map.position
        AND back.salesforce_value = held.value
    WHERE CASE WHEN field_map.has_values THEN back.intercom_value ELSE ferry_norm(held.value, field_map.value_type) END IS NOT NULL
)

SELECT * FROM final
