-- materialized: incremental
-- record_ids: intercom_id, email_norm
-- description: Live Intercom contacts with their rank among contacts sharing an email (users before leads, then oldest, then lowest id).
-- An incremental build ranks again every contact sharing an email with a
-- contact that changed: stg_intercom__contacts lists email_norm among its
-- record ids, so an email a contact took or left counts as changed.
WITH emails AS (
    SELECT email_norm FROM stg_intercom__contacts
    WHERE is_incremental() AND (changed(intercom_id) OR changed(email_norm))
),

contacts AS (
    SELECT * FROM stg_intercom__contacts
    WHERE NOT coalesce(is_deleted, false)
      AND (NOT is_incremental() OR changed(intercom_id) OR email_norm IN (SELECT email_norm FROM emails))
),

final AS (
    SELECT
        contacts.intercom_id,
        contacts.role,
        contacts.email,
        contacts.email_norm,
        contacts.name,
        contacts.first_company_id,
        contacts.created_at_unix,
        contacts.updated_at,
        CASE
            WHEN contacts.email_norm IS NULL THEN NULL
            ELSE row_number() OVER (
                PARTITION BY contacts.email_norm
                ORDER BY CASE contacts.role WHEN 'user' THEN 0 ELSE 1 END, contacts.created_at_unix, contacts.intercom_id
            )
        END AS email_rank
    FROM contacts
)

SELECT * FROM final
