-- materialized: table
-- record_ids: contact_id
-- description: Salesforce Contacts with a role on an open opportunity: how many open opportunities they have a role on, and the lowest such opportunity Id. A table with record ids, so that an opportunity closing names its contacts as changed records.
SELECT
    roles.contact_id,
    count(DISTINCT opportunities.sf_id) AS open_opportunities,
    min(opportunities.sf_id) AS opportunity_id
FROM stg_salesforce__opportunity_contact_roles AS roles
INNER JOIN stg_salesforce__opportunities AS opportunities
    ON opportunities.sf_id = roles.opportunity_id
WHERE NOT roles.is_deleted
  AND NOT opportunities.is_deleted
  AND NOT opportunities.is_closed
GROUP BY roles.contact_id
