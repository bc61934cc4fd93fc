-- Our first change over the original schema; also applied to adopted databases.
-- 1. JSON columns become JSONB (existing values are converted, none is lost).
-- 2. Flags that the original left nullable become NOT NULL DEFAULT false
--    (a NULL flag always meant false to the original).
-- 3. An output's identity (batch, input, platform, configurations, tuning
--    parameters) becomes unique, so concurrent "get or create" cannot duplicate.
-- 4. Indexes for the read paths of the webapp.
ALTER TABLE projects ALTER COLUMN data DROP DEFAULT,
    ALTER COLUMN data TYPE JSONB USING data::text::jsonb,
    ALTER COLUMN data SET DEFAULT '{}';
ALTER TABLE ci_commits ALTER COLUMN data DROP DEFAULT,
    ALTER COLUMN data TYPE JSONB USING data::text::jsonb,
    ALTER COLUMN data SET DEFAULT '{}',
    ALTER COLUMN parents TYPE JSONB USING parents::text::jsonb;
ALTER TABLE batches ALTER COLUMN data DROP DEFAULT,
    ALTER COLUMN data TYPE JSONB USING data::text::jsonb,
    ALTER COLUMN data SET DEFAULT '{}';
ALTER TABLE test_inputs ALTER COLUMN data DROP DEFAULT,
    ALTER COLUMN data TYPE JSONB USING data::text::jsonb,
    ALTER COLUMN data SET DEFAULT '{}';
ALTER TABLE outputs ALTER COLUMN data DROP DEFAULT,
    ALTER COLUMN data TYPE JSONB USING data::text::jsonb,
    ALTER COLUMN data SET DEFAULT '{}',
    ALTER COLUMN metrics DROP DEFAULT,
    ALTER COLUMN metrics TYPE JSONB USING metrics::text::jsonb,
    ALTER COLUMN metrics SET DEFAULT '{}';

UPDATE ci_commits SET deleted = false WHERE deleted IS NULL;
ALTER TABLE ci_commits ALTER COLUMN deleted SET DEFAULT false, ALTER COLUMN deleted SET NOT NULL;
UPDATE outputs SET deleted = false WHERE deleted IS NULL;
UPDATE outputs SET is_pending = false WHERE is_pending IS NULL;
UPDATE outputs SET is_running = false WHERE is_running IS NULL;
UPDATE outputs SET is_failed = false WHERE is_failed IS NULL;
ALTER TABLE outputs
    ALTER COLUMN deleted SET DEFAULT false, ALTER COLUMN deleted SET NOT NULL,
    ALTER COLUMN is_pending SET DEFAULT false, ALTER COLUMN is_pending SET NOT NULL,
    ALTER COLUMN is_running SET DEFAULT false, ALTER COLUMN is_running SET NOT NULL,
    ALTER COLUMN is_failed SET DEFAULT false, ALTER COLUMN is_failed SET NOT NULL,
    ALTER COLUMN created_date SET DEFAULT (now() AT TIME ZONE 'utc');
ALTER TABLE batches ALTER COLUMN created_date SET DEFAULT (now() AT TIME ZONE 'utc');
UPDATE users SET is_ldap = false WHERE is_ldap IS NULL;
ALTER TABLE users ALTER COLUMN is_ldap SET DEFAULT false, ALTER COLUMN is_ldap SET NOT NULL,
    ALTER COLUMN created_date SET DEFAULT (now() AT TIME ZONE 'utc');

CREATE UNIQUE INDEX outputs_identity ON outputs (
    batch_id, test_input_id, COALESCE(platform, ''),
    md5(configurations::text), md5(extra_parameters::text)
);
CREATE INDEX ci_commits_project_authored ON ci_commits (project_id, authored_datetime DESC);
CREATE INDEX ci_commits_project_branch ON ci_commits (project_id, branch, authored_datetime DESC);
