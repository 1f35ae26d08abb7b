-- materialized: view
-- description: The rows of intercom_updates for Intercom contacts (entity people): one per changed attribute, in long form, written by models/syncs/mapping.yaml.
SELECT intercom_id, field, value, value_type
FROM intercom_updates
WHERE entity = 'people'
