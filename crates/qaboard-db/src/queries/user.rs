//! Users and sessions (see the public `crate::users`).
use super::prelude::*;
use crate::users::{LdapProfile, NewLocalUser, NewSessionRow, SessionUser, User};

macro_rules! user_cols {
    () => {
        (
            users::id,
            users::created_date,
            users::user_name,
            users::full_name,
            users::email,
            users::password,
            users::is_ldap,
        )
    };
}

pub(crate) fn user_by_name(conn: &mut Conn, name: &str) -> Result<Option<User>, DbError> {
    Ok(users::table
        .filter(users::user_name.eq(name))
        .select(user_cols!())
        .first::<User>(conn)
        .optional()?)
}

pub(crate) fn user_by_id(conn: &mut Conn, id: i32) -> Result<Option<User>, DbError> {
    Ok(users::table
        .filter(users::id.eq(id))
        .select(user_cols!())
        .first::<User>(conn)
        .optional()?)
}

/// Whether another user than `except` has this full name / e-mail.
fn full_name_taken(conn: &mut Conn, value: &str, except: Option<i32>) -> Result<bool, DbError> {
    let q = users::table
        .filter(users::full_name.eq(value))
        .filter(users::id.ne(except.unwrap_or(-1)))
        .select(users::id);
    Ok(q.first::<i32>(conn).optional()?.is_some())
}

fn email_taken(conn: &mut Conn, value: &str, except: Option<i32>) -> Result<bool, DbError> {
    let q = users::table
        .filter(users::email.eq(value))
        .filter(users::id.ne(except.unwrap_or(-1)))
        .select(users::id);
    Ok(q.first::<i32>(conn).optional()?.is_some())
}

/// A unique violation (a concurrent insert) as a 409.
fn unique_to_conflict(e: diesel::result::Error, what: &str) -> DbError {
    match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => DbError::Conflict(format!("{what} already exists")),
        e => e.into(),
    }
}

pub(crate) fn insert_local_user(conn: &mut Conn, u: &NewLocalUser<'_>) -> Result<i32, DbError> {
    if user_by_name(conn, u.user_name)?.is_some() {
        return Err(DbError::Conflict(format!(
            "the user name {:?} is already taken",
            u.user_name
        )));
    }
    if let Some(email) = u.email {
        if email_taken(conn, email, None)? {
            return Err(DbError::Conflict(format!(
                "the email {email:?} already belongs to a user"
            )));
        }
    }
    if let Some(full_name) = u.full_name {
        if full_name_taken(conn, full_name, None)? {
            return Err(DbError::Conflict(format!(
                "the full name {full_name:?} already belongs to a user"
            )));
        }
    }
    diesel::insert_into(users::table)
        .values((
            users::created_date.eq(now_naive()),
            users::user_name.eq(u.user_name),
            users::full_name.eq(u.full_name),
            users::email.eq(u.email),
            users::password.eq(u.password_hash),
            users::is_ldap.eq(false),
        ))
        .returning(users::id)
        .get_result::<i32>(conn)
        .map_err(|e| unique_to_conflict(e, "this user"))
}

pub(crate) fn upsert_ldap_user(conn: &mut Conn, p: &LdapProfile<'_>) -> Result<User, DbError> {
    let existing = for_update!(users::table
        .filter(users::user_name.eq(p.user_name))
        .select(user_cols!()))
    .first::<User>(conn)
    .optional()?;
    let except = existing.as_ref().map(|u| u.id.0);
    let full_name = match p.full_name {
        Some(f) if !full_name_taken(conn, f, except)? => Some(f),
        _ => None,
    };
    let email = match p.email {
        Some(e) if !email_taken(conn, e, except)? => Some(e),
        _ => None,
    };
    match existing {
        Some(u) if !u.is_ldap => Err(DbError::Conflict(format!(
            "the user name {:?} belongs to a local user",
            p.user_name
        ))),
        Some(u) => {
            diesel::update(users::table.filter(users::id.eq(u.id.0)))
                .set((
                    users::full_name.eq(full_name.or(u.full_name.as_deref())),
                    users::email.eq(email.or(u.email.as_deref())),
                ))
                .execute(conn)?;
            user_by_id(conn, u.id.0)?.ok_or(DbError::NotFound {
                what: "user",
                key: u.id.to_string(),
            })
        }
        None => {
            let id = diesel::insert_into(users::table)
                .values((
                    users::created_date.eq(now_naive()),
                    users::user_name.eq(p.user_name),
                    users::full_name.eq(full_name),
                    users::email.eq(email),
                    users::password.eq(None::<String>),
                    users::is_ldap.eq(true),
                ))
                .returning(users::id)
                .get_result::<i32>(conn)
                .map_err(|e| unique_to_conflict(e, "this user"))?;
            user_by_id(conn, id)?.ok_or(DbError::NotFound {
                what: "user",
                key: id.to_string(),
            })
        }
    }
}

pub(crate) fn set_password(conn: &mut Conn, id: i32, hash: &str) -> Result<(), DbError> {
    let n = diesel::update(users::table.filter(users::id.eq(id)))
        .set(users::password.eq(hash))
        .execute(conn)?;
    if n == 0 {
        return Err(DbError::NotFound {
            what: "user",
            key: id.to_string(),
        });
    }
    Ok(())
}

pub(crate) fn insert_session(conn: &mut Conn, row: &NewSessionRow<'_>) -> Result<(), DbError> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id_hash.eq(row.id_hash),
            sessions::user_id.eq(row.user_id.0),
            sessions::created.eq(row.created),
            sessions::expires.eq(row.expires),
            sessions::last_seen.eq(row.created),
        ))
        .execute(conn)?;
    Ok(())
}

pub(crate) fn session_user(
    conn: &mut Conn,
    id_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<SessionUser>, DbError> {
    let row = sessions::table
        .inner_join(users::table)
        .filter(sessions::id_hash.eq(id_hash))
        .filter(sessions::expires.gt(now))
        .select((user_cols!(), sessions::last_seen, sessions::expires))
        .first::<(User, NaiveDateTime, NaiveDateTime)>(conn)
        .optional()?;
    Ok(row.map(|(user, last_seen, expires)| SessionUser {
        user,
        last_seen,
        expires,
    }))
}

pub(crate) fn touch_session(
    conn: &mut Conn,
    id_hash: &str,
    now: NaiveDateTime,
    older_than: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        sessions::table
            .filter(sessions::id_hash.eq(id_hash))
            .filter(sessions::last_seen.lt(older_than)),
    )
    .set(sessions::last_seen.eq(now))
    .execute(conn)?;
    Ok(n > 0)
}

pub(crate) fn delete_session(conn: &mut Conn, id_hash: &str) -> Result<bool, DbError> {
    let n = diesel::delete(sessions::table.filter(sessions::id_hash.eq(id_hash))).execute(conn)?;
    Ok(n > 0)
}

pub(crate) fn purge_expired_sessions(
    conn: &mut Conn,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::delete(sessions::table.filter(sessions::expires.le(now))).execute(conn)?)
}
