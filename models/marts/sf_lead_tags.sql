-- materialized: view
-- description: Intercom tags per matched Salesforce Lead (models/syncs/tags_to_salesforce.yaml).
SELECT sf_id, tags FROM int_people_tags WHERE sf_object = 'Lead'
