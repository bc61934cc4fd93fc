-- The schema of the original Python/Flask QA-Board backend, as its SQLAlchemy
-- models created it. `qaboard-migrate adopt` marks this migration as applied on
-- an existing QA-Board database without running it.
CREATE TABLE projects (
    id VARCHAR PRIMARY KEY,
    data JSON NOT NULL DEFAULT '{}',
    latest_output_datetime TIMESTAMP WITHOUT TIME ZONE
);

CREATE TABLE ci_commits (
    id SERIAL PRIMARY KEY,
    hexsha VARCHAR NOT NULL,
    project_id VARCHAR REFERENCES projects (id),
    data JSON NOT NULL DEFAULT '{}',
    authored_datetime TIMESTAMP WITH TIME ZONE,
    committer_name VARCHAR,
    message VARCHAR,
    branch VARCHAR,
    parents JSON,
    commit_dir_override VARCHAR,
    commit_type VARCHAR,
    latest_output_datetime TIMESTAMP WITH TIME ZONE,
    deleted BOOLEAN,
    CONSTRAINT _project_hexsha UNIQUE (project_id, hexsha)
);
CREATE INDEX ix_ci_commits_hexsha ON ci_commits (hexsha);
CREATE INDEX ix_ci_commits_project_id ON ci_commits (project_id);
CREATE INDEX ix_ci_commits_authored_datetime ON ci_commits (authored_datetime);
CREATE INDEX ix_ci_commits_committer_name ON ci_commits (committer_name);
CREATE INDEX ix_ci_commits_branch ON ci_commits (branch);

CREATE TABLE batches (
    id SERIAL PRIMARY KEY,
    created_date TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    data JSON NOT NULL DEFAULT '{}',
    ci_commit_id INTEGER REFERENCES ci_commits (id),
    label VARCHAR,
    batch_dir_override VARCHAR,
    CONSTRAINT _ci_commit__label UNIQUE (ci_commit_id, label)
);
CREATE INDEX ix_batches_ci_commit_id ON batches (ci_commit_id);

CREATE TABLE test_inputs (
    id SERIAL PRIMARY KEY,
    path VARCHAR NOT NULL,
    database VARCHAR NOT NULL,
    data JSON NOT NULL DEFAULT '{}',
    CONSTRAINT _database_path UNIQUE (database, path)
);
CREATE INDEX ix_test_inputs_path ON test_inputs (path);
CREATE INDEX ix_test_inputs_database ON test_inputs (database);

CREATE TABLE outputs (
    id SERIAL PRIMARY KEY,
    batch_id INTEGER REFERENCES batches (id),
    created_date TIMESTAMP WITHOUT TIME ZONE,
    deleted BOOLEAN,
    output_dir_override VARCHAR,
    output_type VARCHAR,
    test_input_id INTEGER REFERENCES test_inputs (id),
    platform VARCHAR,
    configurations JSONB NOT NULL DEFAULT '[]',
    extra_parameters JSONB NOT NULL DEFAULT '{}',
    is_pending BOOLEAN,
    is_running BOOLEAN,
    is_failed BOOLEAN,
    metrics JSON NOT NULL DEFAULT '{}',
    data JSON NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_outputs_batch_id ON outputs (batch_id);
CREATE INDEX ix_outputs_created_date ON outputs (created_date);
CREATE INDEX ix_outputs_output_dir_override ON outputs (output_dir_override);
CREATE INDEX ix_outputs_test_input_id ON outputs (test_input_id);
CREATE INDEX idx_outputs_data_user ON outputs ((data ->> 'user'));
CREATE INDEX idx_outputs_filter ON outputs (batch_id, test_input_id, platform);

CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    created_date TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    user_name VARCHAR UNIQUE,
    full_name VARCHAR UNIQUE,
    email VARCHAR UNIQUE,
    password VARCHAR,
    is_ldap BOOLEAN
);
