-- The SQL of each model the published build was built from (a hash of it,
-- comments and headers aside), so that `ferry plan` can name the models
-- whose SQL changed since.
CREATE TABLE IF NOT EXISTS ferry.model_sql (
    model    VARCHAR NOT NULL,
    sql_hash VARCHAR NOT NULL
);
