//! Password hashes: argon2id for new ones, Werkzeug PBKDF2 for the ones migrated from the original.
//!
//! New hashes are argon2id (RFC 9106) in the PHC string format
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), with the `argon2` crate's default
//! parameters (the OWASP recommendation).
//!
//! The original backend stored `werkzeug.security.generate_password_hash(password)`:
//! `pbkdf2:<hash name>:<iterations>$<salt>$<hex digest>` where the digest is
//! PBKDF2 with HMAC of that hash (password as UTF-8, salt as UTF-8, iterations) of the hash's own size
//! (Werkzeug 2.0: `pbkdf2:sha256:260000$<16 characters>$<64 hex digits>`; older versions used
//! fewer iterations, e.g. 50000 or 150000, and some `sha1`). `generate_password_hash` always wrote the
//! iterations, but Werkzeug's `check_password_hash` also accepts `pbkdf2:<hash name>$…` and then
//! uses its default iterations: such a hand-made value is verified with Werkzeug 2.0's
//! 260000. Method and iterations are always read from the stored string. The other Werkzeug
//! formats (`plain`, un-iterated salted HMAC such as `sha256$salt$hex`, Werkzeug 3's `scrypt:…`)
//! were never written by the original and never match here.
//!
//! A missing (NULL), empty or unparseable stored hash never matches. Digests are compared in
//! constant time.
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use password_hash::rand_core::OsRng;
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::AuthError;

/// Iterations assumed for a Werkzeug `pbkdf2:<hash>$…` value without them (Werkzeug 2.0's
/// `DEFAULT_PBKDF2_ITERATIONS`, the version the original backend ran).
pub const WERKZEUG_DEFAULT_ITERATIONS: u32 = 260_000;

/// Stored PBKDF2 iteration counts above this never match (a corrupted or hostile row must not
/// keep a server thread busy for minutes). Werkzeug 3.1's default is 1 000 000.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password does not match (or nothing usable is stored).
    Mismatch,
    /// The password matches. When `needs_rehash` is true the caller should store
    /// [`hash_password`]`(password)` in place of the stored value (a Werkzeug hash, or argon2
    /// with other parameters than today's).
    Match {
        /// Whether the stored value should be replaced by a new hash.
        needs_rehash: bool,
    },
}

impl Verification {
    /// Whether the password matched.
    pub fn is_match(self) -> bool {
        matches!(self, Verification::Match { .. })
    }
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Hashes a new password: argon2id, default parameters, a random 128-bit salt, PHC string
/// format. Errors only if the underlying library refuses (not expected).
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Checks `password` against the stored value of `users.password` (`None` for NULL).
///
/// Understands argon2 PHC strings and Werkzeug `pbkdf2:…` hashes (see the module docs); anything
/// else, NULL and `""` give [`Verification::Mismatch`]. An empty password is checked like any
/// other (Werkzeug accepted it at signup); refusing it is the caller's policy.
pub fn verify_password(password: &str, stored: Option<&str>) -> Verification {
    let Some(stored) = stored.filter(|s| !s.is_empty()) else {
        return Verification::Mismatch;
    };
    let matched = if stored.starts_with('$') {
        verify_phc(password, stored)
    } else if let Some(w) = WerkzeugHash::parse(stored) {
        w.verify(password)
    } else {
        false
    };
    if matched {
        Verification::Match {
            needs_rehash: needs_rehash(stored),
        }
    } else {
        Verification::Mismatch
    }
}

/// Whether a stored hash should be replaced at the next successful login: true for everything
/// except an argon2id PHC string with today's parameters.
pub fn needs_rehash(stored: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return true;
    };
    if hash.algorithm != Algorithm::Argon2id.ident() || hash.version != Some(0x13) {
        return true;
    }
    match Params::try_from(&hash) {
        Ok(p) => {
            let want = Params::default();
            p.m_cost() != want.m_cost()
                || p.t_cost() != want.t_cost()
                || p.p_cost() != want.p_cost()
                || hash.hash.map(|h| h.len()) != Some(want.output_len().unwrap_or(32))
        }
        Err(_) => true,
    }
}

fn verify_phc(password: &str, stored: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    // Only argon2 (any variant) is understood; `verify_password` compares in constant time.
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let version = hash
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    Argon2::new(algorithm, version, params)
        .verify_password(password.as_bytes(), &hash)
        .is_ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prf {
    Sha1,
    Sha256,
    Sha512,
}

/// A parsed Werkzeug `pbkdf2:<hash>[:<iterations>]$<salt>$<hex>` value.
struct WerkzeugHash<'a> {
    prf: Prf,
    iterations: u32,
    salt: &'a str,
    digest: Vec<u8>,
}

impl<'a> WerkzeugHash<'a> {
    fn parse(stored: &'a str) -> Option<Self> {
        let mut parts = stored.split('$');
        let (method, salt, hex_digest) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || salt.is_empty() {
            return None;
        }
        let mut args = method.strip_prefix("pbkdf2:")?.split(':');
        let prf = match args.next()? {
            "sha1" => Prf::Sha1,
            "sha256" => Prf::Sha256,
            "sha512" => Prf::Sha512,
            _ => return None,
        };
        let iterations = match args.next() {
            None => WERKZEUG_DEFAULT_ITERATIONS,
            Some(n) => n.parse::<u32>().ok()?,
        };
        if args.next().is_some() || iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
            return None;
        }
        let digest = hex::decode(hex_digest).ok()?;
        let expected_len = match prf {
            Prf::Sha1 => 20,
            Prf::Sha256 => 32,
            Prf::Sha512 => 64,
        };
        (digest.len() == expected_len).then_some(WerkzeugHash {
            prf,
            iterations,
            salt,
            digest,
        })
    }

    fn verify(&self, password: &str) -> bool {
        let mut out = vec![0u8; self.digest.len()];
        let (p, s, n) = (password.as_bytes(), self.salt.as_bytes(), self.iterations);
        match self.prf {
            Prf::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(p, s, n, &mut out),
            Prf::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(p, s, n, &mut out),
            Prf::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(p, s, n, &mut out),
        }
        out.ct_eq(&self.digest).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Generated with Werkzeug 2.0.3 `generate_password_hash(password, method)` and checked with its
    // `check_password_hash` (the Python is not kept; see the commit message).
    const WZ_DEFAULT: (&str, &str) = (
        "correct horse battery staple",
        "pbkdf2:sha256:260000$3BJoVi8ksKEfoI1b$24dcac039fe257a933db737f613f209af77b51b8670e3518c1c3e9d928ed0b9f",
    );
    const WZ_SHA256_1000: (&str, &str) = (
        "hunter2",
        "pbkdf2:sha256:1000$tAtY0xwBAGWhFVky$1facbea5bc2884fbfcd5cd52495cd13fa9f79af073d2082eca53b091aa6ca248",
    );
    const WZ_UNICODE: (&str, &str) = (
        "pässwörd ✓",
        "pbkdf2:sha256:2000$4ilr3r8j24IZE0C0$706e8f43d38a379fe0062597260a2fa09ce7d663ce91847537621e654a98dca7",
    );
    const WZ_SHA512: (&str, &str) = (
        "hunter2",
        "pbkdf2:sha512:1000$nNeu8zZ5eBSLccmQ$05818588e3dd07a15496f8f893df6b58a6a00d0b93120dc42c854bfe6a6619e6ca6cb4e01b41f3b231752878ac83c4aae3da5da17a7be909405985143645d228",
    );
    const WZ_SHA1: (&str, &str) = (
        "hunter2",
        "pbkdf2:sha1:1000$swShyLAxMo6lrgrA$3d6725b1c95f9c4b0377f93809cbb1e4afbaeefc",
    );
    const WZ_EMPTY_PASSWORD: (&str, &str) = (
        "",
        "pbkdf2:sha256:1000$HE6HNr44X1z47iLi$e87912b0b2f54d1934149acb048ce9a35ec9057c70b0e3fdacf0f601e53e0af1",
    );
    // `pbkdf2:sha256$…` without iterations, accepted by Werkzeug 2.0.3's check_password_hash.
    const WZ_NO_ITERATIONS: (&str, &str) = (
        "hunter2",
        "pbkdf2:sha256$abcdEFGH12345678$dda3de3322b44b7fe0fb6f6b495af010b8f92e92ab625c9aca254ca02cf639cd",
    );

    #[test]
    fn werkzeug_hashes_match_their_password_and_ask_for_a_rehash() {
        for (password, stored) in [
            WZ_DEFAULT,
            WZ_SHA256_1000,
            WZ_UNICODE,
            WZ_SHA512,
            WZ_SHA1,
            WZ_EMPTY_PASSWORD,
            WZ_NO_ITERATIONS,
        ] {
            assert_eq!(
                verify_password(password, Some(stored)),
                Verification::Match { needs_rehash: true },
                "{stored}"
            );
            assert!(needs_rehash(stored));
        }
    }

    #[test]
    fn werkzeug_hashes_refuse_other_passwords() {
        for (password, stored) in [WZ_DEFAULT, WZ_SHA256_1000, WZ_UNICODE, WZ_SHA512, WZ_SHA1] {
            for wrong in [
                "",
                "hunter3",
                &password.to_uppercase(),
                &format!("{password} "),
            ] {
                if wrong != password {
                    assert_eq!(verify_password(wrong, Some(stored)), Verification::Mismatch);
                }
            }
        }
        assert_eq!(
            verify_password("x", Some(WZ_EMPTY_PASSWORD.1)),
            Verification::Mismatch
        );
    }

    #[test]
    fn malformed_or_missing_hashes_never_match() {
        let (pw, good) = WZ_SHA256_1000;
        let tampered_iterations = good.replace(":1000$", ":1001$");
        let tampered_digest = good.replace("a248", "a249");
        let short_digest = &good[..good.len() - 2];
        let no_salt =
            "pbkdf2:sha256:1000$$1facbea5bc2884fbfcd5cd52495cd13fa9f79af073d2082eca53b091aa6ca248";
        for stored in [
            "",
            "hunter2",
            "plain$$hunter2",
            "sha256$salt$deadbeef",
            "pbkdf2:md5:1000$abc$00",
            "pbkdf2:sha256:0$tAtY0xwBAGWhFVky$1facbea5bc2884fbfcd5cd52495cd13fa9f79af073d2082eca53b091aa6ca248",
            "pbkdf2:sha256:99999999999$tAtY0xwBAGWhFVky$1facbea5bc2884fbfcd5cd52495cd13fa9f79af073d2082eca53b091aa6ca248",
            "pbkdf2:sha256:1000:7$tAtY0xwBAGWhFVky$1facbea5bc2884fbfcd5cd52495cd13fa9f79af073d2082eca53b091aa6ca248",
            "pbkdf2:sha256:-5$a$b",
            "scrypt:32768:8:1$salt$00",
            &tampered_iterations,
            &tampered_digest,
            short_digest,
            no_salt,
            &format!("{good}$extra"),
            "$argon2id$v=19$m=19456,t=2,p=1$garbage",
            "$bcrypt$whatever",
        ] {
            assert_eq!(verify_password(pw, Some(stored)), Verification::Mismatch, "{stored}");
        }
        assert_eq!(verify_password(pw, None), Verification::Mismatch);
        assert_eq!(verify_password("", None), Verification::Mismatch);
        assert_eq!(verify_password("", Some("")), Verification::Mismatch);
    }

    #[test]
    fn new_hashes_are_argon2id_salted_and_current() {
        let a = hash_password("s3cret").unwrap();
        let b = hash_password("s3cret").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "a random salt each time");
        assert_eq!(
            verify_password("s3cret", Some(&a)),
            Verification::Match {
                needs_rehash: false
            }
        );
        assert_eq!(verify_password("s3cret!", Some(&a)), Verification::Mismatch);
        assert!(!needs_rehash(&a));
        let empty = hash_password("").unwrap();
        assert!(verify_password("", Some(&empty)).is_match());
        assert!(!verify_password(" ", Some(&empty)).is_match());
    }

    #[test]
    fn argon2_with_other_parameters_still_matches_but_asks_for_a_rehash() {
        let params = Params::new(8192, 1, 1, None).unwrap();
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert_eq!(
            verify_password("pw", Some(&weak)),
            Verification::Match { needs_rehash: true }
        );
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"pw", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert_eq!(
            verify_password("pw", Some(&argon2i)),
            Verification::Match { needs_rehash: true }
        );
        assert!(!verify_password("px", Some(&argon2i)).is_match());
    }
}
