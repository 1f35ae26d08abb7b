-- materialized: view
-- description: The rows of sf_updates for Leads: one per changed field of a Lead, by Id, in long form, written by models/syncs/mapping.yaml.
SELECT sf_id, field, value, value_type
FROM sf_updates
WHERE sf_object = 'Lead'
