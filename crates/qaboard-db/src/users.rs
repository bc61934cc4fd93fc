//! Users and login sessions (issue 14, OPERATIONS.md §6): the `users` rows the original backend
//! wrote (kept as they are: Werkzeug hashes are replaced only at the next successful login) and
//! the `sessions` table of migration `2026-11-29-000001_sessions`.
//!
//! This module only stores and reads; hashing, cookies and LDAP live in `qaboard-auth`. Every
//! time is UTC without a zone, as written by the server. Session ids are never stored: a row is
//! keyed by the hex SHA-256 of the id (`qaboard_auth::SessionId::storage_key`).
//!
//! The SQL is in `queries/user.rs`, written once for both backends.
use chrono::{NaiveDateTime, TimeDelta};

use qaboard_model::UserId;

use crate::{DbConn, DbError};

/// A `users` row. The password hash is included: callers must never send it to a client.
#[derive(Clone, PartialEq, Eq, diesel::Queryable)]
pub struct User {
    /// `users.id`.
    #[diesel(deserialize_as = i32)]
    pub id: UserId,
    /// When the row was written (UTC).
    pub created_date: NaiveDateTime,
    /// Login name (unique; NULL only in rows written by hand).
    pub user_name: Option<String>,
    /// Display name (unique, may be NULL).
    pub full_name: Option<String>,
    /// E-mail address (unique, may be NULL).
    pub email: Option<String>,
    /// argon2id PHC string, a Werkzeug `pbkdf2:…` hash of the original, or NULL (LDAP users).
    pub password: Option<String>,
    /// Whether the user logs in through LDAP.
    pub is_ldap: bool,
}

impl std::fmt::Debug for User {
    /// The password hash is not printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("user_name", &self.user_name)
            .field("full_name", &self.full_name)
            .field("email", &self.email)
            .field("is_ldap", &self.is_ldap)
            .finish_non_exhaustive()
    }
}

/// A user signing up with a local password (`POST /api/v1/user/signup/`).
#[derive(Debug, Clone)]
pub struct NewLocalUser<'a> {
    /// Login name (required, unique).
    pub user_name: &'a str,
    /// Display name (unique when given).
    pub full_name: Option<&'a str>,
    /// E-mail (unique when given).
    pub email: Option<&'a str>,
    /// The password hash to store (argon2id from `qaboard_auth::hash_password`).
    pub password_hash: &'a str,
}

/// What the directory said about an LDAP user at login.
#[derive(Debug, Clone)]
pub struct LdapProfile<'a> {
    /// The login name the user typed.
    pub user_name: &'a str,
    /// The common name attribute, if any.
    pub full_name: Option<&'a str>,
    /// The e-mail attribute, if any.
    pub email: Option<&'a str>,
}

/// A new `sessions` row.
#[derive(Debug, Clone)]
pub struct NewSessionRow<'a> {
    /// Hex SHA-256 of the session id (64 characters).
    pub id_hash: &'a str,
    /// The logged-in user.
    pub user_id: UserId,
    /// Login time (UTC); also the first `last_seen`.
    pub created: NaiveDateTime,
    /// End of the session (UTC).
    pub expires: NaiveDateTime,
}

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct SessionUser {
    /// The user of the session.
    pub user: User,
    /// When the session was last used (updated at most every `touch_every`, see
    /// [`touch_session`]).
    pub last_seen: NaiveDateTime,
    /// When the session ends.
    pub expires: NaiveDateTime,
}

/// The user named `user_name` (exact match, as the original's `filter_by(user_name=…)`).
pub fn user_by_name(conn: &mut DbConn, user_name: &str) -> Result<Option<User>, DbError> {
    crate::dispatch!(conn, |c, q| q::user::user_by_name(c, user_name))
}

/// The user with this id.
pub fn user_by_id(conn: &mut DbConn, id: UserId) -> Result<Option<User>, DbError> {
    crate::dispatch!(conn, |c, q| q::user::user_by_id(c, id.0))
}

/// Inserts a local user (`is_ldap = false`) and answers its id.
///
/// Errors: [`DbError::Conflict`] naming the field when the user name, e-mail or full name
/// already belongs to a user (all three are UNIQUE in the original schema); nothing is written.
pub fn insert_local_user(conn: &mut DbConn, user: &NewLocalUser<'_>) -> Result<UserId, DbError> {
    crate::dispatch_tx!(conn, |c, q| q::user::insert_local_user(c, user)).map(UserId)
}

/// Records a successful LDAP login: inserts the user (`is_ldap = true`, password NULL) on first
/// login, else refreshes its full name and e-mail from the directory (as the original's
/// `update_user`). A full name or e-mail already used by ANOTHER user is not stored (left
/// unchanged on update, NULL on insert), so a directory duplicate cannot block a login.
///
/// Errors: [`DbError::Conflict`] when the user name belongs to a local (non-LDAP) user (the
/// caller checks `is_ldap` first; this guards against a concurrent signup).
pub fn upsert_ldap_user(conn: &mut DbConn, profile: &LdapProfile<'_>) -> Result<User, DbError> {
    crate::dispatch_tx!(conn, |c, q| q::user::upsert_ldap_user(c, profile))
}

/// Replaces a user's password hash (re-hash of a Werkzeug hash at its first successful login, or
/// a password change). Errors: [`DbError::NotFound`] for an unknown id.
pub fn set_password(
    conn: &mut DbConn,
    user_id: UserId,
    password_hash: &str,
) -> Result<(), DbError> {
    crate::dispatch_tx!(conn, |c, q| q::user::set_password(
        c,
        user_id.0,
        password_hash
    ))
}

/// Stores a new session, and deletes every session that has expired by `row.created` (so the
/// table does not grow with abandoned sessions; cheap with the `expires` index).
pub fn insert_session(conn: &mut DbConn, row: &NewSessionRow<'_>) -> Result<(), DbError> {
    crate::dispatch_tx!(conn, |c, q| {
        q::user::purge_expired_sessions(c, row.created)?;
        q::user::insert_session(c, row)
    })
}

/// The session stored under `id_hash` and its user, if it has not expired at `now` (UTC).
pub fn session_user(
    conn: &mut DbConn,
    id_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<SessionUser>, DbError> {
    crate::dispatch!(conn, |c, q| q::user::session_user(c, id_hash, now))
}

/// Sets `last_seen = now` if it is older than `now - touch_every` (so a busy user costs one write
/// per interval, not one per request). Answers whether a row changed.
pub fn touch_session(
    conn: &mut DbConn,
    id_hash: &str,
    now: NaiveDateTime,
    touch_every: TimeDelta,
) -> Result<bool, DbError> {
    crate::dispatch_tx!(conn, |c, q| q::user::touch_session(
        c,
        id_hash,
        now,
        now - touch_every
    ))
}

/// Deletes a session (logout). Answers whether it existed.
pub fn delete_session(conn: &mut DbConn, id_hash: &str) -> Result<bool, DbError> {
    crate::dispatch_tx!(conn, |c, q| q::user::delete_session(c, id_hash))
}

/// Deletes every session expired at `now`; answers how many.
pub fn purge_expired_sessions(conn: &mut DbConn, now: NaiveDateTime) -> Result<usize, DbError> {
    crate::dispatch_tx!(conn, |c, q| q::user::purge_expired_sessions(c, now))
}
