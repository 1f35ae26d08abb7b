-- materialized: view
-- description: The rows of sf_updates for Contacts: one per changed field of a Contact, by Id, in long form, written by models/syncs/mapping.yaml.
SELECT sf_id, field, value, value_type
FROM sf_updates
WHERE sf_object = 'Contact'
