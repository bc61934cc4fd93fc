//! Extractors: everything a handler takes from a request besides its path and query, in one
//! place. Access checks ([`WriteAccess`], [`ReadAccess`]), bodies ([`JsonBody`] with the
//! body budget, [`FormFields`]), typed access to a body's fields ([`Fields`]) and the logged-in
//! user ([`CurrentUser`]). Each answers its own 4xx JSON error, so a handler that receives
//! them only deals with valid input.
mod auth;
mod body;
mod fields;
mod form;
mod user;

pub use auth::{ReadAccess, WriteAccess};
pub use body::{BodyBudget, JsonBody, OptionalJsonBody};
pub use fields::{check_commit_id, Fields};
pub use form::{FormFields, FORM_LIMIT};
pub use user::{CurrentUser, LoggedIn};
