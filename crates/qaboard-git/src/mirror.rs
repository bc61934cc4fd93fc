//! Bare mirrors of a forge's repositories, safe to update from several
//! threads and server processes at once.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{command, GitError, Repo, Result};

/// The mirrors of one forge: `<git_dir>/<group/repo>` is a bare mirror
/// (`git clone --mirror`) of `<host>/<group/repo>`.
///
/// `host` is the `GITLAB_HOST` setting: any URL git understands
/// (`https://gitlab.example.com`, `file:///srv/repos` in tests); `git_dir`
/// the `git_dir` setting (OPERATIONS.md "Decisions"). The access token is
/// given per call ([`Mirrors::sync`]), sent as an HTTP header for that call
/// only, and never written into a mirror's configuration.
#[derive(Debug, Clone)]
pub struct Mirrors {
    pub(crate) git_dir: PathBuf,
    host: String,
    /// Time limit of a first clone (default [`crate::DEFAULT_CLONE_TIMEOUT`]).
    pub clone_timeout: Duration,
    /// Time limit of a fetch (default [`crate::DEFAULT_FETCH_TIMEOUT`]).
    pub fetch_timeout: Duration,
}

/// The result of [`Mirrors::sync`].
#[derive(Debug, Clone)]
pub struct Synced {
    /// The up-to-date mirror.
    pub repo: Repo,
    /// Whether this call created the mirror (cloned).
    pub cloned: bool,
    /// Whether this call ran a fetch (false after a clone, and when
    /// [`Mirrors::sync_push`] found the mirror already up to date).
    pub fetched: bool,
}

impl Mirrors {
    /// Mirrors of the forge at `host` kept under `git_dir` (created on demand).
    pub fn new(git_dir: impl Into<PathBuf>, host: impl Into<String>) -> Mirrors {
        Mirrors {
            git_dir: git_dir.into(),
            host: host.into(),
            clone_timeout: crate::DEFAULT_CLONE_TIMEOUT,
            fetch_timeout: crate::DEFAULT_FETCH_TIMEOUT,
        }
    }

    /// Where the mirror of `repo` (`group/sub/repo`) lives.
    ///
    /// Errors: [`GitError::InvalidRepoPath`] unless
    /// [`qaboard_model::webhook::valid_repo_path`] accepts `repo` (no `..`,
    /// no absolute path, no empty segment…), so a mirror is always inside
    /// `git_dir`.
    pub fn path(&self, repo: &str) -> Result<PathBuf> {
        if !qaboard_model::webhook::valid_repo_path(repo) {
            return Err(GitError::InvalidRepoPath(repo.to_string()));
        }
        Ok(self.git_dir.join(repo))
    }

    /// The URL the mirror of `repo` is cloned from: `<host>/<repo>`.
    pub fn url(&self, repo: &str) -> Result<String> {
        if !qaboard_model::webhook::valid_repo_path(repo) {
            return Err(GitError::InvalidRepoPath(repo.to_string()));
        }
        Ok(format!("{}/{repo}", self.host.trim_end_matches('/')))
    }

    /// Opens the existing mirror of `repo` without any network access, or
    /// `None` when there is none yet.
    pub fn open(&self, repo: &str) -> Result<Option<Repo>> {
        let path = self.path(repo)?;
        if !path.exists() {
            return Ok(None);
        }
        Repo::open(&path).map(Some)
    }

    /// Brings the mirror of `repo` up to date: clones it when it does not
    /// exist, else fetches every ref (`--prune`). Waits for the mirror's file
    /// lock, so concurrent calls from threads or processes run one after the
    /// other and exactly one of them clones. A clone is made in a temporary
    /// sibling folder and renamed into place, so a killed or failed clone
    /// never leaves a half-made mirror.
    ///
    /// `token` (`GITLAB_ACCESS_TOKEN`) is sent for this call only. Errors:
    /// invalid `repo`, I/O on `git_dir`, [`GitError::Command`] when git fails
    /// (unknown repository, refused credentials…), [`GitError::Timeout`].
    pub fn sync(&self, repo: &str, token: Option<&str>) -> Result<Synced> {
        let path = self.path(repo)?;
        let url = self.url(repo)?;
        let _lock = self.lock(&path)?;
        if path.exists() {
            let mirror = Repo::open(&path)?;
            command::fetch(mirror.git_dir(), token, self.fetch_timeout)?;
            return Ok(Synced {
                repo: mirror,
                cloned: false,
                fetched: true,
            });
        }
        let parent = path.parent().expect("a mirror path has a parent");
        let name = path
            .file_name()
            .expect("a mirror path has a name")
            .to_string_lossy()
            .into_owned();
        // Left-overs of clones killed with their process.
        let prefix = format!(".{name}.clone-");
        if let Ok(entries) = std::fs::read_dir(parent) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let staging = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(parent)?;
        let target = staging.path().join("repo");
        command::clone_mirror(&url, &target, token, self.clone_timeout)?;
        std::fs::rename(&target, &path)?;
        Ok(Synced {
            repo: Repo::open(&path)?,
            cloned: true,
            fetched: false,
        })
    }

    /// [`Mirrors::sync`] for a push of `full_ref` (`refs/heads/<b>`,
    /// `refs/tags/<t>`) to commit `sha`, without any network access when the
    /// mirror's `full_ref` already resolves (tags peeled) to `sha` — a
    /// redelivered webhook, or a second hook for the same push, costs a ref
    /// lookup. Other refs are brought up to date by their own pushes.
    pub fn sync_push(
        &self,
        repo: &str,
        full_ref: &str,
        sha: &str,
        token: Option<&str>,
    ) -> Result<Synced> {
        if let Some(mirror) = self.open(repo)? {
            if mirror.ref_target(full_ref).as_deref() == Some(sha) {
                return Ok(Synced {
                    repo: mirror,
                    cloned: false,
                    fetched: false,
                });
            }
        }
        self.sync(repo, token)
    }

    /// The mirror of `repo`, fetched only when it does not yet hold commit
    /// `sha` (or does not exist): near zero cost when the commit is known.
    /// For on-demand reads of a given commit; a push must use
    /// [`Mirrors::sync`] (new tags and branch heads matter there).
    pub fn ensure_commit(&self, repo: &str, sha: &str, token: Option<&str>) -> Result<Repo> {
        if let Some(mirror) = self.open(repo)? {
            if mirror.has_commit(sha) {
                return Ok(mirror);
            }
        }
        Ok(self.sync(repo, token)?.repo)
    }

    /// Takes the exclusive lock of the mirror at `path` (waiting for it):
    /// `<git_dir>/.locks/<group/repo>.lock` (repository segments never start
    /// with `.`, so this folder never clashes with a mirror). `flock` locks
    /// belong to the open file, so they exclude other threads of this
    /// process as well as other processes; the lock is released when the
    /// file is closed (also when the process dies). Lock files are kept.
    pub(crate) fn lock(&self, path: &Path) -> Result<File> {
        let relative = path
            .strip_prefix(&self.git_dir)
            .expect("mirror paths are inside git_dir");
        let mut lock_path = self.git_dir.join(".locks").join(relative).into_os_string();
        lock_path.push(".lock");
        std::fs::create_dir_all(path.parent().expect("a mirror path has a parent"))?;
        Ok(lock_file(Path::new(&lock_path))?)
    }
}

/// Opens (creating it and its folders) the lock file `lock_path` and waits
/// for its exclusive `flock`, held until the returned file is closed. Lock
/// files are kept. Used for mirrors and for save-artifacts checkouts.
pub(crate) fn lock_file(lock_path: &Path) -> std::io::Result<File> {
    std::fs::create_dir_all(lock_path.parent().expect("lock path has a parent"))?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(std::io::Error::from)?;
    Ok(file)
}
