-- The QA-Board schema on SQLite: the same tables and columns as on PostgreSQL.
-- JSON columns hold SQLite JSONB blobs; timestamps are ISO text in UTC.
CREATE TABLE projects (
    id TEXT PRIMARY KEY NOT NULL,
    data BLOB NOT NULL DEFAULT (jsonb('{}')),
    latest_output_datetime TIMESTAMP
);

CREATE TABLE ci_commits (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    hexsha TEXT NOT NULL,
    project_id TEXT REFERENCES projects (id),
    data BLOB NOT NULL DEFAULT (jsonb('{}')),
    authored_datetime TIMESTAMPTZ,
    committer_name TEXT,
    message TEXT,
    branch TEXT,
    parents BLOB,
    commit_dir_override TEXT,
    commit_type TEXT,
    latest_output_datetime TIMESTAMPTZ,
    deleted BOOLEAN NOT NULL DEFAULT 0,
    CONSTRAINT _project_hexsha UNIQUE (project_id, hexsha)
);
CREATE INDEX ix_ci_commits_hexsha ON ci_commits (hexsha);
CREATE INDEX ci_commits_project_authored ON ci_commits (project_id, authored_datetime DESC);
CREATE INDEX ci_commits_project_branch ON ci_commits (project_id, branch, authored_datetime DESC);

CREATE TABLE batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    created_date TIMESTAMP NOT NULL,
    data BLOB NOT NULL DEFAULT (jsonb('{}')),
    ci_commit_id INTEGER REFERENCES ci_commits (id),
    label TEXT,
    batch_dir_override TEXT,
    CONSTRAINT _ci_commit__label UNIQUE (ci_commit_id, label)
);

CREATE TABLE test_inputs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    path TEXT NOT NULL,
    database TEXT NOT NULL,
    data BLOB NOT NULL DEFAULT (jsonb('{}')),
    CONSTRAINT _database_path UNIQUE (database, path)
);

CREATE TABLE outputs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    batch_id INTEGER REFERENCES batches (id),
    created_date TIMESTAMP,
    deleted BOOLEAN NOT NULL DEFAULT 0,
    output_dir_override TEXT,
    output_type TEXT,
    test_input_id INTEGER REFERENCES test_inputs (id),
    platform TEXT,
    configurations BLOB NOT NULL DEFAULT (jsonb('[]')),
    extra_parameters BLOB NOT NULL DEFAULT (jsonb('{}')),
    is_pending BOOLEAN NOT NULL DEFAULT 0,
    is_running BOOLEAN NOT NULL DEFAULT 0,
    is_failed BOOLEAN NOT NULL DEFAULT 0,
    metrics BLOB NOT NULL DEFAULT (jsonb('{}')),
    data BLOB NOT NULL DEFAULT (jsonb('{}'))
);
CREATE INDEX ix_outputs_batch_id ON outputs (batch_id);
CREATE INDEX ix_outputs_test_input_id ON outputs (test_input_id);
CREATE UNIQUE INDEX outputs_identity ON outputs (
    batch_id, test_input_id, ifnull(platform, ''), configurations, extra_parameters
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    created_date TIMESTAMP NOT NULL,
    user_name TEXT UNIQUE,
    full_name TEXT UNIQUE,
    email TEXT UNIQUE,
    password TEXT,
    is_ldap BOOLEAN NOT NULL DEFAULT 0
);
