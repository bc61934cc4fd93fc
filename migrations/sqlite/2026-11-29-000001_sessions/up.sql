-- Login sessions (qaboard-auth), as on PostgreSQL. The cookie holds a random 256-bit id signed
-- with the secret key; a row is keyed by the hex SHA-256 of that id, so the table alone gives no
-- usable cookie. Logging out deletes the row; deleting a user deletes their sessions
-- (foreign keys are on for every connection). Timestamps are UTC, written by the server.
-- users.user_name is already UNIQUE in the baseline: no index is added for logins.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created TIMESTAMP NOT NULL,
    expires TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL
);
CREATE INDEX idx_sessions_user_id ON sessions (user_id);
CREATE INDEX idx_sessions_expires ON sessions (expires);
