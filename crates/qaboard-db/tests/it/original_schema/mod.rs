//! A database of the original Python backend, for the adopt tests.

/// The schema as the original Python backend created it (SQLAlchemy
/// `create_all` + alembic), JSON columns and nullable flags included.
pub const ORIGINAL_DDL: &str = r#"
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
INSERT INTO alembic_version VALUES ('c44a0b869765');
CREATE TABLE projects (id VARCHAR NOT NULL PRIMARY KEY, data JSON DEFAULT '{}' NOT NULL, latest_output_datetime TIMESTAMP WITHOUT TIME ZONE);
CREATE TABLE ci_commits (
  id SERIAL NOT NULL PRIMARY KEY, hexsha VARCHAR NOT NULL, project_id VARCHAR REFERENCES projects (id),
  data JSON DEFAULT '{}' NOT NULL, authored_datetime TIMESTAMP WITH TIME ZONE, committer_name VARCHAR,
  message VARCHAR, branch VARCHAR, parents JSON, commit_dir_override VARCHAR, commit_type VARCHAR,
  latest_output_datetime TIMESTAMP WITH TIME ZONE, deleted BOOLEAN,
  CONSTRAINT _project_hexsha UNIQUE (project_id, hexsha));
CREATE INDEX ix_ci_commits_hexsha ON ci_commits (hexsha);
CREATE INDEX ix_ci_commits_branch ON ci_commits (branch);
CREATE TABLE batches (
  id SERIAL NOT NULL PRIMARY KEY, created_date TIMESTAMP WITHOUT TIME ZONE NOT NULL, data JSON DEFAULT '{}' NOT NULL,
  ci_commit_id INTEGER REFERENCES ci_commits (id), label VARCHAR, batch_dir_override VARCHAR,
  CONSTRAINT _ci_commit__label UNIQUE (ci_commit_id, label));
CREATE TABLE test_inputs (
  id SERIAL NOT NULL PRIMARY KEY, path VARCHAR NOT NULL, database VARCHAR NOT NULL, data JSON DEFAULT '{}' NOT NULL,
  CONSTRAINT _database_path UNIQUE (database, path));
CREATE TABLE outputs (
  id SERIAL NOT NULL PRIMARY KEY, batch_id INTEGER REFERENCES batches (id), created_date TIMESTAMP WITHOUT TIME ZONE,
  deleted BOOLEAN, output_dir_override VARCHAR, output_type VARCHAR, test_input_id INTEGER REFERENCES test_inputs (id),
  platform VARCHAR, configurations JSONB DEFAULT '[]' NOT NULL, extra_parameters JSONB DEFAULT '{}' NOT NULL,
  is_pending BOOLEAN, is_running BOOLEAN, is_failed BOOLEAN, metrics JSON DEFAULT '{}' NOT NULL, data JSON DEFAULT '{}' NOT NULL);
CREATE INDEX idx_outputs_data_user ON outputs ((data->>'user'));
CREATE TABLE users (
  id SERIAL NOT NULL PRIMARY KEY, created_date TIMESTAMP WITHOUT TIME ZONE NOT NULL, user_name VARCHAR UNIQUE,
  full_name VARCHAR UNIQUE, email VARCHAR UNIQUE, password VARCHAR, is_ldap BOOLEAN);
"#;

/// A few rows of each table, as the original wrote them.
pub const ORIGINAL_ROWS: &str = r#"
INSERT INTO projects VALUES ('acme/smoke', '{"git": {"path_with_namespace": "acme/smoke"}, "qatools_config": {"project": {"name": "acme/smoke"}}}', '2026-11-24 17:53:38');
INSERT INTO projects VALUES ('acme/mono/sub', '{}', NULL);
INSERT INTO ci_commits (hexsha, project_id, data, authored_datetime, committer_name, message, branch, parents, commit_type, deleted)
  VALUES ('462a23fc9356a1fa3f792828b530ea6d4eeb9803', 'acme/smoke', '{"a": 1}', '2026-11-20T10:00:00+00:00', 'Jane Doe', 'c1', 'master', '["f39ae8fabd816e38763bd69afb70ea8e733e26c7"]', 'git', NULL),
         ('5555555555555555555555555555555555555555', 'acme/smoke', '{}', '2026-11-21T07:30:00+00:00', 'John', 'c2', 'origin/feature', NULL, 'git', false);
INSERT INTO batches (created_date, data, ci_commit_id, label) VALUES ('2026-11-24 17:52:33', '{"type": "ci"}', 1, 'default'), ('2026-11-24 17:52:34', '{}', 2, 'default');
INSERT INTO test_inputs (path, database, data) VALUES ('images/0001.jpg', '/mnt/datasets/images', '{"metadata": {"iso": 100}}'), ('images/0002.jpg', '/mnt/datasets/images', '{}');
INSERT INTO outputs (batch_id, created_date, deleted, output_type, test_input_id, platform, configurations, extra_parameters, is_pending, is_running, is_failed, metrics, data)
  VALUES (1, '2026-11-24 17:52:33', false, 'image', 1, 'linux', '["base"]', '{}', false, false, false, '{"psnr": 31.1}', '{"user": "ci"}'),
         (1, '2026-11-24 17:52:34', NULL, 'image', 2, 'linux', '["base"]', '{}', NULL, NULL, NULL, '{}', '{}'),
         (2, '2026-11-24 17:52:35', false, 'image', 1, 'linux', '["base", {"x": 1}]', '{"t": 0.5}', true, true, false, '{}', '{}');
INSERT INTO users (created_date, user_name, full_name, email, password, is_ldap) VALUES ('2026-01-01', 'jane', 'Jane Doe', 'j@x', 'h', NULL);
"#;
