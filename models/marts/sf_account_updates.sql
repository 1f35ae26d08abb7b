-- materialized: view
-- description: The rows of sf_updates for Accounts: one per changed field of a Account, by Id, in long form, written by models/syncs/mapping.yaml.
SELECT sf_id, field, value, value_type
FROM sf_updates
WHERE sf_object = 'Account'
