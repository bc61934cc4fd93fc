//! `/api/v1/user/…`: sign-up, log-in, log-out and the current user (OPERATIONS.md §6, issue 14).
//!
//! Forms are url-encoded or multipart (the webapp's `FormData`). Passwords: argon2id for new
//! ones; Werkzeug hashes of the original are replaced at the first successful login. LDAP when
//! enabled (`QABOARD_LDAP_*`), for unknown user names and LDAP users (`login_uses_ldap`).
//! Sessions are rows of the `sessions` table behind a signed `HttpOnly; SameSite=Lax` cookie.
use std::net::IpAddr;
use std::time::Instant;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use qaboard_auth::session::DEFAULT_SESSION_MAX_AGE;
use qaboard_auth::{
    hash_password, ldap_authenticate, login_uses_ldap, verify_password, AuthError, Verification,
};
use qaboard_db::users::{self, LdapProfile, NewLocalUser, NewSessionRow, User};
use serde_json::json;

use crate::extract::CurrentUser;
use crate::extract::FormFields;
use crate::users::NO_STORE;
use crate::{both, resource, run_db, ApiError, AppState};

/// Registers the user routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/user/signup")).route(web::post().to(signup)))
        .service(resource(both("/user/auth")).route(web::post().to(login)))
        .service(resource(both("/user/logout")).route(web::post().to(logout)))
        .service(resource(both("/user/me")).route(web::get().to(me)));
}

/// `POST /api/v1/user/signup/`, form `user_name, password` (required), `email, full_name`
/// (optional, NULL when empty). Answers `{id, user_name, full_name, email}`; 400 without a user
/// name or password; 409 when the user name, e-mail or full name is taken. Does not log in.
async fn signup(state: web::Data<AppState>, form: FormFields) -> Result<HttpResponse, ApiError> {
    let (Some(user_name), Some(password)) = (form.get("user_name"), form.get("password")) else {
        return Err(ApiError::bad(
            "the form needs `user_name` and `password` (and optionally `email`, `full_name`)",
        ));
    };
    let user_name = user_name.trim().to_string();
    if user_name.is_empty() {
        return Err(ApiError::bad("`user_name` is empty"));
    }
    let password = password.to_string();
    let email = form.get("email").map(|s| s.trim().to_string());
    let full_name = form.get("full_name").map(|s| s.trim().to_string());
    let pool = state.pool.clone();
    let (id, user_name, email, full_name) = run_db(move || {
        let hash = hash_password(&password).map_err(auth_internal)?;
        let email = email.filter(|s| !s.is_empty());
        let full_name = full_name.filter(|s| !s.is_empty());
        let id = users::insert_local_user(
            &mut pool.get()?,
            &NewLocalUser {
                user_name: &user_name,
                full_name: full_name.as_deref(),
                email: email.as_deref(),
                password_hash: &hash,
            },
        )?;
        Ok((id, user_name, email, full_name))
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(NO_STORE).json(json!({
        "id": id,
        "user_name": user_name,
        "full_name": full_name,
        "email": email,
    })))
}

fn auth_internal(e: AuthError) -> ApiError {
    ApiError::Internal(Box::new(e))
}

/// The client address for the rate limiter: the `Forwarded` / `X-Forwarded-For` address when a
/// reverse proxy sets it, else the peer's.
fn client_addr(req: &HttpRequest) -> Option<IpAddr> {
    let info = req.connection_info();
    let raw = info.realip_remote_addr()?;
    raw.parse::<IpAddr>()
        .ok()
        .or_else(|| raw.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

/// The user's fields as the webapp reads them (`id` and `user_id` both, OPERATIONS.md §6).
fn user_json(u: &User) -> serde_json::Value {
    json!({
        "id": u.id,
        "user_id": u.id,
        "user_name": u.user_name,
        "full_name": u.full_name,
        "email": u.email,
        "is_ldap": u.is_ldap,
    })
}

/// Checks the credentials: the user on success, else the refusal (or a server-side error).
async fn authenticate(
    state: &AppState,
    user_name: String,
    password: String,
) -> Result<Result<User, AuthError>, ApiError> {
    let pool = state.pool.clone();
    let name = user_name.clone();
    let existing = run_db(move || Ok(users::user_by_name(&mut pool.get()?, &name)?)).await?;
    let ldap = state
        .users
        .ldap
        .as_ref()
        .map_err(|e| ApiError::Internal(format!("LDAP settings: {e}").into()))?;
    if login_uses_ldap(ldap.is_some(), existing.as_ref().map(|u| u.is_ldap)) {
        let ldap = ldap.as_ref().expect("login_uses_ldap implies settings");
        let found = match ldap_authenticate(ldap, &user_name, &password).await {
            Ok(found) => found,
            Err(e @ (AuthError::InvalidUsername | AuthError::InvalidPassword)) => {
                return Ok(Err(e))
            }
            Err(e) => {
                log::error!("LDAP login of {user_name:?}: {e}");
                return Err(ApiError::Unavailable(
                    "the LDAP server could not check the login, try again later".into(),
                ));
            }
        };
        let pool = state.pool.clone();
        let user = run_db(move || {
            Ok(users::upsert_ldap_user(
                &mut pool.get()?,
                &LdapProfile {
                    user_name: &user_name,
                    full_name: found.full_name.as_deref(),
                    email: found.email.as_deref(),
                },
            )?)
        })
        .await?;
        return Ok(Ok(user));
    }
    let Some(user) = existing else {
        return Ok(Err(AuthError::InvalidUsername));
    };
    let pool = state.pool.clone();
    run_db(
        move || match verify_password(&password, user.password.as_deref()) {
            Verification::Mismatch => Ok(Err(AuthError::InvalidPassword)),
            Verification::Match { needs_rehash } => {
                let mut user = user;
                if needs_rehash {
                    let hash = hash_password(&password).map_err(auth_internal)?;
                    users::set_password(&mut pool.get()?, user.id, &hash)?;
                    user.password = Some(hash);
                }
                Ok(Ok(user))
            }
        },
    )
    .await
}

/// `POST /api/v1/user/auth/`, form `username, password` (url-encoded or multipart). Answers
/// `{id, user_id, user_name, full_name, email, is_ldap, login_success: true}` with the session
/// cookie; 403 `{"error": "invalid-username" | "invalid-password"}`; 429 with `Retry-After`
/// after too many failures for the user name or the client address; 503 when LDAP is down.
/// A session the request already carries is ended first (as the original's logout-then-login).
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: FormFields,
) -> Result<HttpResponse, ApiError> {
    let user_name = form.get("username").unwrap_or("").to_string();
    let password = form.get("password").unwrap_or("").to_string();
    let addr = client_addr(&req);
    let users_state = &state.users;
    let signer = users_state.signer()?;
    if let Err(AuthError::RateLimited { retry_after_secs }) =
        users_state.limiter.check(&user_name, addr, Instant::now())
    {
        return Ok(HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, retry_after_secs.to_string()))
            .insert_header(NO_STORE)
            .json(json!({
                "error": format!("too many failed logins, retry in {retry_after_secs} s")
            })));
    }
    if let Some(old) = users_state.session_key(&req) {
        let pool = state.pool.clone();
        run_db(move || Ok(users::delete_session(&mut pool.get()?, &old)?)).await?;
    }
    let user = if user_name.is_empty() {
        Err(AuthError::InvalidUsername)
    } else {
        authenticate(&state, user_name.clone(), password).await?
    };
    let user = match user {
        Ok(user) => user,
        Err(e) => {
            users_state
                .limiter
                .record_failure(&user_name, addr, Instant::now());
            log::info!("failed login of {user_name:?}: {e}");
            return Ok(HttpResponse::Forbidden()
                .insert_header(NO_STORE)
                .json(json!({ "error": e.login_error().unwrap_or("invalid-password") })));
        }
    };
    users_state.limiter.record_success(&user_name);
    let session = signer.mint(Utc::now().naive_utc(), DEFAULT_SESSION_MAX_AGE);
    let pool = state.pool.clone();
    let (key, user_id, created, expires) = (
        session.storage_key.clone(),
        user.id,
        session.created,
        session.expires,
    );
    run_db(move || {
        Ok(users::insert_session(
            &mut pool.get()?,
            &NewSessionRow {
                id_hash: &key,
                user_id,
                created,
                expires,
            },
        )?)
    })
    .await?;
    log::info!("login of {user_name:?} (user {})", user.id);
    let mut body = user_json(&user);
    body["login_success"] = json!(true);
    Ok(HttpResponse::Ok()
        .insert_header((
            header::SET_COOKIE,
            users_state.cookie.set_cookie(&session.cookie_value),
        ))
        .insert_header(NO_STORE)
        .json(body))
}

/// `POST /api/v1/user/logout/`: deletes the request's session (if any) and clears the cookie.
/// Always `{"status": "OK"}`.
async fn logout(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Some(key) = state.users.session_key(&req) {
        let pool = state.pool.clone();
        run_db(move || Ok(users::delete_session(&mut pool.get()?, &key)?)).await?;
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::SET_COOKIE, state.users.cookie.removal()))
        .insert_header(NO_STORE)
        .json(json!({ "status": "OK" })))
}

/// `GET /api/v1/user/me/`: `{is_authenticated, is_anonymous, is_active}`, plus `user_id,
/// user_name, full_name, email, is_ldap` when logged in.
async fn me(user: CurrentUser) -> Result<HttpResponse, ApiError> {
    let body = match &user.0 {
        Some(l) => {
            let mut b = user_json(&l.user);
            let o = b.as_object_mut().expect("object");
            o.remove("id");
            o.insert("is_authenticated".into(), json!(true));
            o.insert("is_anonymous".into(), json!(false));
            o.insert("is_active".into(), json!(true));
            b
        }
        None => json!({"is_authenticated": false, "is_anonymous": true, "is_active": false}),
    };
    Ok(HttpResponse::Ok().insert_header(NO_STORE).json(body))
}
