-- materialized: table
-- record_ids: admin_id, user_id
-- description: Intercom admins and the active Salesforce users with the same email: the bridge for Task owners, Lead owners, message senders and owner routing.
WITH final AS (
    SELECT
        admins.admin_id,
        min(users.sf_id) AS user_id
    FROM stg_intercom__admins AS admins
    INNER JOIN stg_salesforce__users AS users
        ON users.email_norm = admins.email_norm AND users.is_active
    GROUP BY admins.admin_id
)

SELECT * FROM final
