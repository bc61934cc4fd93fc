//! Login sessions: a random id in a signed cookie, stored in the database by its hash.
//!
//! - A session id is 256 random bits from the operating system ([`SessionId::generate`]).
//! - The cookie value is `<id>.<tag>`, both unpadded base64url, where `tag` is
//!   HMAC-SHA256 (RFC 2104) of the id under a key derived from the [`SecretKey`]
//!   ([`SessionSigner`]). A value whose tag does not verify is refused before any database
//!   query, so forged or truncated cookies cost nothing.
//! - The database row is keyed by [`SessionId::storage_key`], the hex SHA-256 of the id: a leaked
//!   `sessions` table does not give live cookies. Logging out deletes the row, so the session
//!   really ends, for every server process sharing the database.
//! - The `Set-Cookie` header is `HttpOnly; SameSite=Lax; Path=/`, with `Secure` when the public URL
//!   is https, and a `Max-Age` ([`CookieOptions`]).
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{NaiveDateTime, TimeDelta};
use hmac::{Hmac, Mac};
use password_hash::rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::SecretKey;

/// Name of the session cookie.
pub const SESSION_COOKIE_NAME: &str = "qaboard_session";

/// Default session lifetime: 180 days, as the original's "remember me" login
/// (`login_user(user, remember=True, duration=timedelta(days=180))`).
pub const DEFAULT_SESSION_MAX_AGE: TimeDelta = TimeDelta::days(180);

/// Context string of the cookie-signing key derived from the secret key, so that the same secret
/// can later sign other things without one signature being valid for the other.
const COOKIE_KEY_CONTEXT: &[u8] = b"qaboard-rs session cookie v1";

/// A session id: 32 random bytes. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId([u8; 32]);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(…)")
    }
}

impl SessionId {
    /// A new random id (256 bits from the operating system's generator).
    pub fn generate() -> SessionId {
        let mut b = [0u8; 32];
        OsRng.fill_bytes(&mut b);
        SessionId(b)
    }

    /// The database key of this session: lowercase hex SHA-256 of the id (64 characters), the
    /// `sessions.id_hash` column.
    pub fn storage_key(&self) -> String {
        hex::encode(Sha256::digest(self.0))
    }
}

/// Signs and verifies session cookie values with a key derived from the [`SecretKey`].
#[derive(Clone)]
pub struct SessionSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for SessionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSigner(…)")
    }
}

type HmacSha256 = Hmac<Sha256>;

/// What to store and send for a new login (see [`SessionSigner::mint`]).
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The id (kept only in the cookie).
    pub id: SessionId,
    /// `sessions.id_hash`: [`SessionId::storage_key`] of `id`.
    pub storage_key: String,
    /// The signed cookie value for [`CookieOptions::set_cookie`].
    pub cookie_value: String,
    /// `sessions.created` and `sessions.last_seen` (UTC).
    pub created: NaiveDateTime,
    /// `sessions.expires` (UTC): `created + max_age`.
    pub expires: NaiveDateTime,
}

impl SessionSigner {
    /// A signer for this secret key.
    pub fn new(secret: &SecretKey) -> SessionSigner {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
        mac.update(COOKIE_KEY_CONTEXT);
        SessionSigner {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key")
    }

    /// The cookie value for `id`: `<base64url id>.<base64url HMAC-SHA256 tag>` (87 ASCII
    /// characters, no `;`, `,`, `=` or spaces).
    pub fn cookie_value(&self, id: &SessionId) -> String {
        let mut mac = self.mac();
        mac.update(&id.0);
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(id.0),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The session id in a cookie value, if its tag verifies (constant-time comparison); `None`
    /// for anything else (other key, tampered, truncated, garbage).
    pub fn verify(&self, cookie_value: &str) -> Option<SessionId> {
        let (id, tag) = cookie_value.trim().split_once('.')?;
        let id: [u8; 32] = URL_SAFE_NO_PAD.decode(id).ok()?.try_into().ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(&id);
        mac.verify_slice(&tag).ok()?;
        Some(SessionId(id))
    }

    /// A new session starting at `now` (UTC) and lasting `max_age`.
    pub fn mint(&self, now: NaiveDateTime, max_age: TimeDelta) -> NewSession {
        let id = SessionId::generate();
        NewSession {
            storage_key: id.storage_key(),
            cookie_value: self.cookie_value(&id),
            id,
            created: now,
            expires: now + max_age,
        }
    }
}

/// Attributes of the session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieOptions {
    /// Cookie name ([`SESSION_COOKIE_NAME`]).
    pub name: String,
    /// Whether to add `Secure` (the public URL is https).
    pub secure: bool,
    /// `Max-Age`; should equal the database expiry.
    pub max_age: TimeDelta,
}

impl CookieOptions {
    /// Options for a server reached at `public_url` (`Secure` when it starts with `https://`,
    /// case-insensitively; `None` or anything else gives a non-`Secure` cookie), with
    /// [`DEFAULT_SESSION_MAX_AGE`].
    pub fn for_public_url(public_url: Option<&str>) -> CookieOptions {
        let secure = public_url.is_some_and(|u| {
            u.trim()
                .get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
        });
        CookieOptions {
            name: SESSION_COOKIE_NAME.to_string(),
            secure,
            max_age: DEFAULT_SESSION_MAX_AGE,
        }
    }

    fn attributes(&self, max_age_secs: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}")
    }

    /// The `Set-Cookie` header value that stores a session:
    /// `qaboard_session=<value>; Path=/; Max-Age=<seconds>; HttpOnly; SameSite=Lax[; Secure]`.
    pub fn set_cookie(&self, cookie_value: &str) -> String {
        let age = self.max_age.num_seconds().max(0);
        format!("{}={cookie_value}; {}", self.name, self.attributes(age))
    }

    /// The `Set-Cookie` header value that makes the browser drop the cookie (logout): empty
    /// value, `Max-Age=0`, same attributes.
    pub fn removal(&self) -> String {
        format!("{}=; {}", self.name, self.attributes(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(k: &str) -> SessionSigner {
        SessionSigner::new(&SecretKey::from_setting(&k.repeat(40)).unwrap())
    }

    #[test]
    fn cookie_values_round_trip_and_resist_tampering() {
        let s = signer("a");
        let id = SessionId::generate();
        let v = s.cookie_value(&id);
        assert_eq!(v.len(), 87);
        assert!(v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        assert_eq!(s.verify(&v), Some(id.clone()));
        assert_eq!(signer("b").verify(&v), None, "another key");
        let (left, right) = v.split_once('.').unwrap();
        let other = s.cookie_value(&SessionId::generate());
        let (_, other_tag) = other.split_once('.').unwrap();
        for bad in [
            String::new(),
            ".".into(),
            left.to_string(),
            format!("{left}."),
            format!("{left}.{other_tag}"),
            format!("{left}.{}", &right[1..]),
            format!("{left}x.{right}"),
            format!("{}.{right}", &left[..left.len() - 1]),
            format!("{left}.{right}.{right}"),
            v.to_uppercase(),
            "\0".into(),
        ] {
            assert_eq!(s.verify(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ids_are_random_and_stored_by_hash() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a, b);
        let k = a.storage_key();
        assert_eq!(k.len(), 64);
        assert!(k
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(k, a.storage_key());
        assert_ne!(k, b.storage_key());
        let s = signer("a");
        assert!(!s.cookie_value(&a).contains(&k));
        assert_eq!(format!("{a:?}"), "SessionId(…)");
    }

    #[test]
    fn mint_gives_matching_cookie_key_and_expiry() {
        let s = signer("a");
        let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 30)
            .unwrap()
            .and_hms_opt(1, 0, 0)
            .unwrap();
        let n = s.mint(now, TimeDelta::days(2));
        assert_eq!(n.created, now);
        assert_eq!(n.expires, now + TimeDelta::days(2));
        let id = s.verify(&n.cookie_value).unwrap();
        assert_eq!(id.storage_key(), n.storage_key);
        assert_eq!(id, n.id);
    }

    #[test]
    fn set_cookie_headers() {
        let plain = CookieOptions::for_public_url(Some("http://qa:5000"));
        assert_eq!(
            plain.set_cookie("v"),
            "qaboard_session=v; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            plain.removal(),
            "qaboard_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        );
        let tls = CookieOptions::for_public_url(Some("HTTPS://qa.example.com/"));
        assert!(tls.secure);
        assert!(tls
            .set_cookie("v")
            .ends_with("; HttpOnly; SameSite=Lax; Secure"));
        assert!(tls.removal().ends_with("; Secure"));
        assert!(!CookieOptions::for_public_url(None).secure);
        assert!(!CookieOptions::for_public_url(Some("https")).secure);
        assert!(!CookieOptions::for_public_url(Some("ftp://https://x")).secure);
    }
}
