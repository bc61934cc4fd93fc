//! The secret that signs session cookies.
//!
//! As the project's "Decisions": the `secret_key` setting (`QABOARD_SECRET_KEY`) when set;
//! otherwise a random key made once and kept in `<data_dir>/secret_key` with mode 0600. Several
//! server processes must share one key (same setting, or the same `data_dir` on shared storage),
//! else a cookie signed by one is refused by the others.
//!
//! The key is the setting's (or the file's) text, trimmed of surrounding whitespace, taken as bytes;
//! so copying the file's content into `QABOARD_SECRET_KEY` of another replica gives it the same key.
//! A generated file holds 64 hexadecimal digits (256 random bits).
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use password_hash::rand_core::{OsRng, RngCore};

use crate::AuthError;

/// Name of the key file inside the data folder.
pub const SECRET_KEY_FILE: &str = "secret_key";

/// Shortest accepted key, in bytes (a 256-bit key written as text is longer).
pub const MIN_SECRET_KEY_LEN: usize = 32;

/// Key material for signing cookies. `Debug` does not print it.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> AuthError + '_ {
    move |source| AuthError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl SecretKey {
    /// The key given by the `secret_key` setting. Errors when shorter than
    /// [`MIN_SECRET_KEY_LEN`] bytes once trimmed.
    pub fn from_setting(value: &str) -> Result<SecretKey, AuthError> {
        let value = value.trim();
        if value.len() < MIN_SECRET_KEY_LEN {
            return Err(AuthError::SecretKey(format!(
                "secret_key must be at least {MIN_SECRET_KEY_LEN} bytes long (e.g. 64 random hexadecimal digits)"
            )));
        }
        Ok(SecretKey(value.as_bytes().to_vec()))
    }

    /// The setting when given (non-empty), else [`SecretKey::load_or_create`] in `data_dir`.
    pub fn resolve(setting: Option<&str>, data_dir: &Path) -> Result<SecretKey, AuthError> {
        match setting.filter(|s| !s.trim().is_empty()) {
            Some(value) => SecretKey::from_setting(value),
            None => SecretKey::load_or_create(data_dir),
        }
    }

    /// Reads `<data_dir>/secret_key`, creating it first when missing (256 random bits as 64 hex
    /// digits, mode 0600, `data_dir` created if needed).
    ///
    /// Creation is atomic: the key is written and synced to a private temporary file which is then
    /// hard-linked to its final name, which fails if another process got there first; the loser
    /// reads the winner's key. So processes starting at once on one folder agree, and no reader
    /// ever sees a half-written file. Errors: I/O; an existing file that group or others may read
    /// (fix with `chmod 600`); a file whose content is shorter than [`MIN_SECRET_KEY_LEN`].
    pub fn load_or_create(data_dir: &Path) -> Result<SecretKey, AuthError> {
        let path = data_dir.join(SECRET_KEY_FILE);
        match Self::read_file(&path) {
            Err(AuthError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {}
            other => return other,
        }
        fs::create_dir_all(data_dir).map_err(io_err(data_dir))?;
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let tmp = temp_name(data_dir);
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            writeln!(f, "{}", hex::encode(bytes))?;
            f.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&tmp)(e));
        }
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(&path)(e)),
        }
        Self::read_file(&path)
    }

    fn read_file(path: &Path) -> Result<SecretKey, AuthError> {
        let meta = fs::metadata(path).map_err(io_err(path))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(AuthError::SecretKey(format!(
                "{} may be read by other users: run `chmod 600` on it",
                path.display()
            )));
        }
        let text = fs::read_to_string(path).map_err(io_err(path))?;
        SecretKey::from_setting(&text).map_err(|_| {
            AuthError::SecretKey(format!(
                "{} holds fewer than {MIN_SECRET_KEY_LEN} bytes: delete it to get a new key",
                path.display()
            ))
        })
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

fn temp_name(dir: &Path) -> PathBuf {
    let mut r = [0u8; 8];
    OsRng.fill_bytes(&mut r);
    dir.join(format!(
        ".{SECRET_KEY_FILE}.{}.{}",
        std::process::id(),
        hex::encode(r)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_created_once_with_mode_0600_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let a = SecretKey::load_or_create(&data).unwrap();
        let path = data.join(SECRET_KEY_FILE);
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        let b = SecretKey::load_or_create(&data).unwrap();
        assert_eq!(a.as_bytes(), b.as_bytes());
        assert_eq!(a.as_bytes(), text.trim().as_bytes());
        // Only the key file is left behind.
        assert_eq!(fs::read_dir(&data).unwrap().count(), 1);
        // The same text as a setting is the same key.
        let c = SecretKey::from_setting(&text).unwrap();
        assert_eq!(a.as_bytes(), c.as_bytes());
    }

    #[test]
    fn processes_starting_together_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_path_buf();
        let keys: Vec<Vec<u8>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| SecretKey::load_or_create(&data).unwrap().0))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(fs::read_dir(&data).unwrap().count(), 1);
    }

    #[test]
    fn unsafe_or_short_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRET_KEY_FILE);
        fs::write(&path, "x".repeat(64)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            SecretKey::load_or_create(dir.path()),
            Err(AuthError::SecretKey(_))
        ));
        fs::write(&path, "short").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            SecretKey::load_or_create(dir.path()),
            Err(AuthError::SecretKey(_))
        ));
        assert!(SecretKey::from_setting("too short").is_err());
        assert!(SecretKey::from_setting(&" ".repeat(40)).is_err());
    }

    #[test]
    fn the_setting_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let set = "k".repeat(40);
        let k = SecretKey::resolve(Some(&set), dir.path()).unwrap();
        assert_eq!(k.as_bytes(), set.as_bytes());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        let f = SecretKey::resolve(Some(""), dir.path()).unwrap();
        assert_eq!(f.as_bytes().len(), 64);
        assert!(format!("{f:?}").contains('…'));
    }
}
