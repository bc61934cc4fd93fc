-- Login sessions (qaboard-auth). The cookie holds a random 256-bit id signed with the secret key;
-- a row is keyed by the hex SHA-256 of that id, so the table alone gives no usable cookie.
-- Logging out deletes the row; deleting a user deletes their sessions.
-- users.user_name is already UNIQUE in the original schema: no index is added for logins.
CREATE TABLE sessions (
    id_hash VARCHAR(64) PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    expires TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    last_seen TIMESTAMP WITHOUT TIME ZONE NOT NULL
);
CREATE INDEX idx_sessions_user_id ON sessions (user_id);
CREATE INDEX idx_sessions_expires ON sessions (expires);
