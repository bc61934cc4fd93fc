//! Users for the QA-Board backend: everything about logging in that is not HTTP or SQL.
//!
//! - [`password`]: argon2id hashes for new passwords, verification of the Werkzeug
//!   `pbkdf2:<hash>:<iterations>$<salt>$<hex>` hashes written by the original backend, and the
//!   "re-hash on first successful login" answer.
//! - [`ldap`]: login against an LDAP directory with the original's `QABOARD_LDAP_*` settings
//!   (service bind, subtree search with an RFC 4515-escaped filter, bind as the user).
//! - [`session`]: random session ids, their HMAC-SHA256-signed cookie value, the `Set-Cookie`
//!   header, and the hash under which a session is stored in the database.
//! - [`secret`]: the key that signs cookies (`secret_key` setting, or `<data_dir>/secret_key`
//!   created once with mode 0600).
//! - [`ratelimit`]: failed-login budgets per user name and per client address.
//!
//! The HTTP routes (`/api/v1/user/…`) live in the API crate and the `users` / `sessions` queries in
//! the db crate; this crate does no SQL and no HTTP.
#![warn(missing_docs)]

mod error;
pub mod ldap;
pub mod password;
pub mod ratelimit;
pub mod secret;
pub mod session;

pub use error::AuthError;
pub use ldap::{authenticate as ldap_authenticate, login_uses_ldap, LdapSettings, LdapUser};
pub use password::{hash_password, needs_rehash, verify_password, Verification};
pub use ratelimit::{LoginRateLimiter, RateLimits};
pub use secret::SecretKey;
pub use session::{CookieOptions, NewSession, SessionId, SessionSigner};
