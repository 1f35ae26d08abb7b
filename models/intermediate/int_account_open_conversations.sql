-- materialized: table
-- description: Each Salesforce Account whose people (matched Contacts) have open customer-initiated Intercom conversations, with the first of them by id: what the support-issue flag, its notice and the expansion Opportunities' flag read.
SELECT contacts.account_id, min(conversations.conversation_id) AS first_conversation_id
FROM stg_intercom__conversations AS conversations
INNER JOIN int_people_identity AS people
    ON people.intercom_id = conversations.contact_id
INNER JOIN stg_salesforce__contacts AS contacts
    ON contacts.sf_id = people.sf_id
WHERE conversations.is_open AND conversations.customer_initiated AND contacts.account_id IS NOT NULL
GROUP BY contacts.account_id
