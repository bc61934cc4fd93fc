//! Git access for QA-Board: mirrors, commit metadata, refs and sub-project plans.
//!
//! QA-Board needs very little from git: metadata about commits (to display
//! them next to their CI results), the content of a few files at a given
//! commit (`qaboard.yaml` of the project and of its sub-projects), and a way
//! to keep a local mirror of the project's repository up to date.
//!
//! This crate wraps [`gix`] behind a tiny API:
//!
//! - [`Repo::open`] opens an existing repository (bare or with a work tree),
//! - [`Repo::clone_mirror`] / [`Repo::fetch`] create and update a local mirror,
//! - [`Repo::resolve`], [`Repo::commit`], [`Repo::read_file`] and
//!   [`Repo::list_files`] read data at a revision.
//!
//! Every fallible function returns a [`GitError`]; no function panics on bad
//! user input (unknown revisions, empty strings, `../etc`, paths with `..`…).
//!
//! ```no_run
//! use qaboard_git::{GitError, Repo};
//!
//! # fn main() -> Result<(), GitError> {
//! let repo = Repo::clone_mirror("https://example.com/group/project.git", "/srv/git/project.git")?;
//! repo.fetch()?;
//! let commit = repo.commit("origin/master")?;
//! println!("{} by {} at {}", commit.hexsha, commit.author_name, commit.authored_datetime);
//! for path in repo.list_files(&commit.hexsha)? {
//!     if path.ends_with("qaboard.yaml") {
//!         let yaml = repo.read_file(&commit.hexsha, &path)?.unwrap_or_default();
//!         println!("{path}: {} bytes", yaml.len());
//!     }
//! }
//! match repo.resolve("no-such-branch") {
//!     Err(GitError::NotFound { rev }) => println!("unknown revision {rev}"),
//!     other => println!("{other:?}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Revisions
//!
//! A revision (`rev`) is anything `git rev-parse` understands and that
//! resolves to a single commit: a full sha, a short sha prefix (at least 4
//! hex characters; ambiguous prefixes are preferentially resolved to commits,
//! like `core.disambiguate=commit`), a branch, a tag (annotated tags are
//! peeled to the commit they point to), `origin/<branch>`, `HEAD`, `main~2`…
//!
//! In a mirror created by [`Repo::clone_mirror`] the remote's branches are
//! stored as `refs/heads/<branch>` (there are no `refs/remotes/origin/*`
//! refs), so in a repository whose `origin` remote is a mirror
//! (`remote.origin.mirror = true`, as set by `git clone --mirror`), an
//! `origin/<rest>` revision that cannot be resolved as-is is retried as
//! `refs/heads/<rest>`. This way `origin/<branch>` works the same for mirrors
//! and for regular clones (where it names the remote-tracking branch).
//!
//! # Clone and fetch: the `git` binary
//!
//! Reading is done in-process with `gix`. Cloning and fetching spawn the
//! `git` command line (which must be on `PATH`); the reasons are given in
//! the `command` module: a fetch must be killable at its deadline, and gix's
//! HTTP transport is a large build for two rarely called operations. The
//! commands run in their own process group, killed after a time limit
//! ([`GitError::Timeout`]), with an argument separator (`--`) before
//! user-provided URLs/paths, interactive prompts disabled
//! (`GIT_TERMINAL_PROMPT=0`, stdin closed), `ext::` URLs refused, and without
//! inheriting `GIT_DIR`-like or tracing environment variables.
//!
//! # Mirrors of a forge
//!
//! [`Mirrors`] keeps one bare mirror per repository under a folder
//! (`<git_dir>/<group/repo>`, cloned from `<GITLAB_HOST>/<group/repo>`),
//! serialised between threads *and processes* by a file lock
//! (`<git_dir>/.locks/<group/repo>.lock`), with an access token passed per call
//! and never stored. [`plan_subprojects`] computes what a push means for
//! QA-Board's projects and commits (see `README.md`).
//!
//! # Configuration isolation
//!
//! Repositories are opened with [`gix::open::Options::isolated`]: only the
//! repository's own configuration is read, environment variables such as
//! `GIT_DIR` and the user/system git configuration are ignored, so results do
//! not depend on the environment of the server process.
//!
//! # Thread safety
//!
//! [`Repo`] is `Send + Sync` and cheap to share (for instance in an
//! `Arc`); each call creates a short-lived thread-local `gix` handle over
//! shared object-database caches.

#![warn(missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

mod command;
mod mirror;
mod plan;
mod refs;
mod worktree;

pub use mirror::{Mirrors, Synced};
pub use plan::{plan_push, plan_subprojects, PushPlan, SubProjectPlan};
pub use refs::PREFERRED_BRANCHES;
pub use worktree::CheckoutLock;

use chrono::{DateTime, FixedOffset, Offset, Utc};

/// Errors returned by this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// The path is not a git repository, or it could not be opened.
    #[error("cannot open git repository at {}: {source}", path.display())]
    Open {
        /// Path given to [`Repo::open`] (or the clone destination).
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The revision does not exist, cannot be parsed, or does not resolve to a
    /// single commit (e.g. it names a tree or a blob, or is a range).
    #[error("git revision {rev:?} not found (or not a commit)")]
    NotFound {
        /// The revision as given by the caller.
        rev: String,
    },
    /// The short sha prefix matches several commits.
    #[error("git revision {rev:?} is ambiguous, use a longer sha prefix")]
    Ambiguous {
        /// The revision as given by the caller.
        rev: String,
    },
    /// A `git` command (clone/fetch) exited unsuccessfully.
    #[error("`git {command}` failed ({status}): {stderr}")]
    Command {
        /// The git sub-command and its arguments.
        command: String,
        /// Exit status, as displayed by the OS.
        status: String,
        /// What the command wrote on its standard error (trimmed).
        stderr: String,
    },
    /// A `git` command (clone/fetch) did not finish in time; its process
    /// group was killed.
    #[error("`git {command}` did not finish within {seconds} s and was stopped")]
    Timeout {
        /// The git sub-command and its arguments.
        command: String,
        /// The time limit, in seconds.
        seconds: f64,
    },
    /// A repository path (`group/repo`) that cannot name a mirror.
    #[error("invalid repository path {0:?}")]
    InvalidRepoPath(String),
    /// An I/O error, for instance when the `git` binary cannot be spawned.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Any other error reported by `gix` (corrupted objects, unreadable
    /// references…), as a message.
    #[error("git error: {0}")]
    Other(String),
}

/// Time limit of [`Repo::clone_mirror`] (and the default of [`Mirrors`]).
pub const DEFAULT_CLONE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Time limit of [`Repo::fetch`] (and the default of [`Mirrors`]).
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Shorthand for results of this crate.
pub type Result<T, E = GitError> = std::result::Result<T, E>;

/// Metadata of one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// Full hexadecimal sha of the commit (40 characters).
    pub hexsha: String,
    /// Full raw commit message (subject, body, trailers), usually ending with
    /// a newline. Non UTF-8 bytes are replaced by U+FFFD.
    pub message: String,
    /// Author name.
    pub author_name: String,
    /// Author email (without the angle brackets).
    pub author_email: String,
    /// Committer name.
    pub committer_name: String,
    /// Committer email (without the angle brackets).
    pub committer_email: String,
    /// Author date, with the author's UTC offset as recorded in the commit.
    pub authored_datetime: DateTime<FixedOffset>,
    /// Committer date, with the committer's UTC offset as recorded in the commit.
    pub committed_datetime: DateTime<FixedOffset>,
    /// Full hexadecimal shas of the parents, in order (empty for a root commit).
    pub parents: Vec<String>,
}

/// A git repository opened for reading (bare or with a work tree).
#[derive(Clone)]
pub struct Repo {
    inner: gix::ThreadSafeRepository,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("git_dir", &self.git_dir())
            .finish()
    }
}

impl Repo {
    /// Opens the repository at `path`.
    ///
    /// `path` may be a bare repository (`project.git`), a work tree (the
    /// `.git` directory is then used) or a `.git` directory itself. Parent
    /// directories are *not* searched.
    pub fn open(path: impl AsRef<Path>) -> Result<Repo> {
        let path = path.as_ref();
        let inner = gix::ThreadSafeRepository::open_opts(path, gix::open::Options::isolated())
            .map_err(|err| GitError::Open {
                path: path.to_path_buf(),
                source: Box::new(err),
            })?;
        Ok(Repo { inner })
    }

    /// Clones `url` as a bare mirror (`git clone --mirror`) into `dest`, then
    /// opens it.
    ///
    /// `url` can be any URL understood by git, including a local path or a
    /// `file://` URL. `dest` must not exist or be an empty directory. All refs
    /// of the remote (branches, tags…) are copied as-is, so a remote branch
    /// `feature` is available as `feature`, `refs/heads/feature` and (see the
    /// crate documentation) `origin/feature`.
    ///
    /// This spawns the `git` binary.
    pub fn clone_mirror(url: &str, dest: impl AsRef<Path>) -> Result<Repo> {
        let dest = dest.as_ref();
        command::clone_mirror(url, dest, None, DEFAULT_CLONE_TIMEOUT)?;
        Repo::open(dest)
    }

    /// Fetches all refs from the `origin` remote, according to its configured
    /// refspecs (for a mirror: every ref), pruning refs deleted upstream.
    ///
    /// This spawns the `git` binary. New commits are visible to this `Repo`
    /// (and its clones) right after the call.
    pub fn fetch(&self) -> Result<()> {
        command::fetch(self.git_dir(), None, DEFAULT_FETCH_TIMEOUT)
    }

    /// The repository's git directory (the bare repository itself, or the
    /// `.git` directory of a work tree).
    pub fn git_dir(&self) -> &Path {
        self.inner.git_dir()
    }

    /// Resolves `rev` to the full hexadecimal sha of the commit it names.
    ///
    /// Tags are peeled to their commit. Returns [`GitError::NotFound`] if the
    /// revision is unknown, invalid, or does not name a commit, and
    /// [`GitError::Ambiguous`] for an ambiguous short sha.
    pub fn resolve(&self, rev: &str) -> Result<String> {
        let repo = self.local();
        let commit = resolve_commit(&repo, rev)?;
        Ok(commit.id.to_string())
    }

    /// Returns the metadata of the commit named by `rev` (see [`Repo::resolve`]).
    pub fn commit(&self, rev: &str) -> Result<CommitInfo> {
        let repo = self.local();
        let commit = resolve_commit(&repo, rev)?;
        let hexsha = commit.id.to_string();
        let decoded = commit.decode().map_err(other)?;
        let author = decoded.author().map_err(other)?;
        let committer = decoded.committer().map_err(other)?;
        Ok(CommitInfo {
            message: lossy(decoded.message),
            author_name: lossy(author.name),
            author_email: lossy(author.email),
            committer_name: lossy(committer.name),
            committer_email: lossy(committer.email),
            authored_datetime: to_datetime(author.time().map_err(other)?, &hexsha)?,
            committed_datetime: to_datetime(committer.time().map_err(other)?, &hexsha)?,
            parents: decoded.parents().map(|id| id.to_string()).collect(),
            hexsha,
        })
    }

    /// Returns the content of the file at `path` in the tree of the commit
    /// named by `rev`, or `None` if there is no such file.
    ///
    /// `path` is relative to the repository root and uses `/` as separator;
    /// empty and `.` components are ignored (`./a//b` is `a/b`). Directories,
    /// submodules, an empty path, or paths with a `..` component give `None`.
    /// For a symbolic link, the link target is returned (like `git show`).
    pub fn read_file(&self, rev: &str, path: &str) -> Result<Option<Vec<u8>>> {
        let repo = self.local();
        let commit = resolve_commit(&repo, rev)?;
        let components: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if components.is_empty() || components.contains(&"..") {
            return Ok(None);
        }
        let tree = commit.tree().map_err(other)?;
        let entry = tree
            .lookup_entry(components.iter().map(|c| c.as_bytes()))
            .map_err(other)?;
        match entry {
            Some(entry) if entry.mode().is_blob_or_symlink() => {
                let object = entry.object().map_err(other)?;
                Ok(Some(object.detach().data))
            }
            _ => Ok(None),
        }
    }

    /// Lists the paths of all files (regular files, executables and symbolic
    /// links; not directories nor submodules) in the tree of the commit named
    /// by `rev`, recursively, sorted, `/`-separated and relative to the
    /// repository root.
    ///
    /// Non UTF-8 bytes in paths are replaced by U+FFFD.
    pub fn list_files(&self, rev: &str) -> Result<Vec<String>> {
        let repo = self.local();
        let commit = resolve_commit(&repo, rev)?;
        let tree = commit.tree().map_err(other)?;
        let entries = tree.traverse().breadthfirst.files().map_err(other)?;
        let mut files: Vec<String> = entries
            .into_iter()
            .filter(|entry| entry.mode.is_blob_or_symlink())
            .map(|entry| lossy(entry.filepath.as_ref()))
            .collect();
        files.sort();
        Ok(files)
    }

    fn local(&self) -> gix::Repository {
        self.inner.to_thread_local()
    }
}

/// Resolves `rev` to a commit, mapping every failure to a [`GitError`].
fn resolve_commit<'r>(repo: &'r gix::Repository, rev: &str) -> Result<gix::Commit<'r>> {
    let not_found = || GitError::NotFound {
        rev: rev.to_string(),
    };
    if rev.trim().is_empty() {
        return Err(not_found());
    }
    let id = match parse_single(repo, rev) {
        Ok(id) => id,
        Err(ParseFailure::NotFound) => match rev.strip_prefix("origin/") {
            // Mirrors keep the remote branches under refs/heads/.
            Some(rest) if !rest.is_empty() && is_origin_mirror(repo) => {
                parse_single(repo, &format!("refs/heads/{rest}")).map_err(|_| not_found())?
            }
            _ => return Err(not_found()),
        },
        Err(ParseFailure::Ambiguous) => {
            return Err(GitError::Ambiguous {
                rev: rev.to_string(),
            })
        }
        Err(ParseFailure::Other(message)) => return Err(GitError::Other(message)),
    };
    let object = repo
        .try_find_object(id)
        .map_err(other)?
        .ok_or_else(not_found)?;
    // Fails for trees and blobs (and tags pointing to them).
    object.peel_to_commit().map_err(|_| not_found())
}

/// Whether `origin` is configured as a mirror (`git clone --mirror` sets
/// `remote.origin.mirror = true`).
fn is_origin_mirror(repo: &gix::Repository) -> bool {
    repo.config_snapshot()
        .boolean("remote.origin.mirror")
        .unwrap_or(false)
}

enum ParseFailure {
    NotFound,
    Ambiguous,
    /// The repository could not be read (permission denied).
    Other(String),
}

/// Parses `spec` into a single object id, preferring commits for ambiguous
/// short shas.
fn parse_single(
    repo: &gix::Repository,
    spec: &str,
) -> std::result::Result<gix::ObjectId, ParseFailure> {
    use gix::revision::spec::parse::{Error as SpecError, ObjectKindHint, Options};

    let options = Options {
        object_kind_hint: Some(ObjectKindHint::Commit),
        ..Default::default()
    };
    match gix::revision::Spec::from_bstr(spec, repo, options) {
        Ok(parsed) => parsed
            .single()
            .map(|id| id.detach())
            .ok_or(ParseFailure::NotFound),
        Err(err) => {
            let ambiguous = err.iter_errors().any(|e| {
                matches!(
                    e.downcast_ref::<SpecError>(),
                    Some(
                        SpecError::AmbiguousPrefix { .. } | SpecError::AmbiguousRefAndObject { .. }
                    )
                )
            });
            // Unknown names can fail with various I/O errors (not found, not a
            // directory, name too long…): only a permission problem is
            // reported as a failure of the repository rather than of `rev`.
            let io_failure = err.iter_errors().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
            });
            if ambiguous {
                Err(ParseFailure::Ambiguous)
            } else if io_failure {
                Err(ParseFailure::Other(err.to_string()))
            } else {
                Err(ParseFailure::NotFound)
            }
        }
    }
}

fn to_datetime(time: gix::date::Time, hexsha: &str) -> Result<DateTime<FixedOffset>> {
    let utc = DateTime::<Utc>::from_timestamp(time.seconds, 0).ok_or_else(|| {
        GitError::Other(format!(
            "commit {hexsha} has an out-of-range timestamp {}",
            time.seconds
        ))
    })?;
    // Malformed offsets (beyond ±24h) fall back to UTC rather than failing.
    let offset = FixedOffset::east_opt(time.offset).unwrap_or_else(|| Utc.fix());
    Ok(utc.with_timezone(&offset))
}

fn lossy(bytes: &gix::bstr::BStr) -> String {
    String::from_utf8_lossy(bytes.as_ref()).into_owned()
}

fn other(err: impl std::fmt::Display) -> GitError {
    GitError::Other(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_keeps_offset() {
        let time = gix::date::Time {
            seconds: 1_577_927_045,
            offset: 2 * 3600,
        };
        let dt = to_datetime(time, "x").unwrap();
        assert_eq!(dt.to_rfc3339(), "2020-01-02T03:04:05+02:00");
    }

    #[test]
    fn datetime_with_invalid_offset_falls_back_to_utc() {
        let time = gix::date::Time {
            seconds: 0,
            offset: 100 * 3600,
        };
        let dt = to_datetime(time, "x").unwrap();
        assert_eq!(dt.to_rfc3339(), "1970-01-01T00:00:00+00:00");
    }

    #[test]
    fn datetime_out_of_range_is_an_error() {
        let time = gix::date::Time {
            seconds: i64::MAX,
            offset: 0,
        };
        assert!(matches!(to_datetime(time, "x"), Err(GitError::Other(_))));
    }
}
