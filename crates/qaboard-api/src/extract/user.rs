//! [`CurrentUser`]: the logged-in user of a request, read from the session cookie through
//! [`crate::users::Users`] and the `sessions` table (issue 14, OPERATIONS.md §6).
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use chrono::Utc;
use qaboard_db::users::User;

use crate::users::TOUCH_EVERY;
use crate::{run_db, ApiError, AppState};

/// The user of a request's live session.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// The user's row (its password hash must not be sent anywhere).
    pub user: User,
    /// `sessions.id_hash` of the session.
    pub session_key: String,
}

/// The logged-in user of a request, if any: extract it in any handler. A missing, forged or
/// expired cookie, or a logged-out session, gives `CurrentUser(None)`; only a database failure
/// fails the request (503/500). Reading a session costs one indexed query; its `last_seen` is
/// written at most every [`TOUCH_EVERY`].
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Option<LoggedIn>);

impl CurrentUser {
    /// The logged-in user's `user_name` (what the original records as `data.user`).
    pub fn user_name(&self) -> Option<&str> {
        self.0.as_ref().and_then(|l| l.user.user_name.as_deref())
    }

    /// The write action `name` done now by the logged-in user (to record in `data.last_action`,
    /// see `qaboard_model::action`); `None` when nobody is logged in.
    pub fn action(&self, name: &'static str) -> Option<qaboard_model::action::Action> {
        self.user_name()
            .map(|u| qaboard_model::action::Action::now(name, u))
    }
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let key = state.as_ref().and_then(|s| s.users.session_key(req));
        Box::pin(async move {
            let (Some(state), Some(key)) = (state, key) else {
                return Ok(CurrentUser(None));
            };
            let pool = state.pool.clone();
            run_db(move || {
                let mut conn = pool.get()?;
                let now = Utc::now().naive_utc();
                let Some(s) = qaboard_db::users::session_user(&mut conn, &key, now)? else {
                    return Ok(CurrentUser(None));
                };
                if now - s.last_seen >= TOUCH_EVERY {
                    qaboard_db::users::touch_session(&mut conn, &key, now, TOUCH_EVERY)?;
                }
                Ok(CurrentUser(Some(LoggedIn {
                    user: s.user,
                    session_key: key,
                })))
            })
            .await
        })
    }
}
