-- materialized: table
-- record_ids: intercom_id
-- description: Live Intercom contacts with their rank among contacts sharing an email (users before leads, then oldest, then lowest id).
WITH contacts AS (
    SELECT * FROM stg_intercom__contacts
    WHERE NOT coalesce(is_deleted, false)
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
