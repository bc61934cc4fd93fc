//! Detached worktrees of a mirror at one commit: the sources of a commit on
//! disk, for running the `qa` CLI there (`qa save-artifacts`, OPERATIONS.md
//! §4.3, as the original's `CiCommit.save_artifacts` did with
//! `git worktree add <tmp> <sha>`).
//!
//! This is the one place where this crate writes to a mirror: `git worktree
//! add/remove/prune` keep their bookkeeping in `<mirror>/worktrees/`. Those
//! calls run under the mirror's lock (so they never overlap a fetch), and a
//! checkout has its own lock for as long as it is used (so two requests for
//! the same commit never share or delete each other's worktree).

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::{command, GitError, Mirrors, Repo, Result};

/// The exclusive right to use the checkout folder of one commit of one
/// mirror, `<git_dir>/.worktrees/<group/repo>/<sha>`, held until dropped
/// (an `flock` on `<git_dir>/.worktrees/.locks/<group/repo>/<sha>.lock`,
/// released also when the process dies). Several threads and server
/// processes sharing `git_dir` wait for each other.
#[derive(Debug)]
pub struct CheckoutLock {
    path: PathBuf,
    root: PathBuf,
    repo_path: PathBuf,
    _file: File,
}

impl CheckoutLock {
    /// The checkout folder, absolute (it may not exist yet).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder holding every checkout (`<git_dir>/.worktrees`, absolute);
    /// the only folder callers should delete in.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn check_sha(sha: &str) -> Result<()> {
    if sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(GitError::NotFound {
            rev: sha.to_string(),
        })
    }
}

impl Mirrors {
    /// The root of the checkouts: `<git_dir>/.worktrees` (repository
    /// segments never start with `.`, so it never clashes with a mirror).
    pub fn checkouts_root(&self) -> PathBuf {
        self.git_dir.join(".worktrees")
    }

    /// Waits for and takes the lock of the checkout of `sha` (40 hex
    /// characters) of mirror `repo`. Errors: [`GitError::InvalidRepoPath`],
    /// [`GitError::NotFound`] for a malformed sha, I/O.
    pub fn lock_checkout(&self, repo: &str, sha: &str) -> Result<CheckoutLock> {
        let repo_path = self.path(repo)?;
        check_sha(sha)?;
        // Absolute, so that callers can confine deletions to `root` (a relative
        // `git_dir` is resolved against the current directory, as git does).
        let root = std::path::absolute(self.checkouts_root())?;
        let path = root.join(repo).join(sha);
        let lock_path = root.join(".locks").join(repo).join(format!("{sha}.lock"));
        std::fs::create_dir_all(path.parent().expect("checkout path has a parent"))?;
        let file = crate::mirror::lock_file(&lock_path)?;
        Ok(CheckoutLock {
            path,
            root,
            repo_path,
            _file: file,
        })
    }

    /// `git worktree add --detach <checkout> <sha>` in the mirror, under the
    /// mirror's lock. The checkout folder must not exist (see
    /// [`Mirrors::remove_checkout`]); stale bookkeeping of vanished
    /// worktrees is pruned first. Errors: [`GitError::Command`] (unknown
    /// commit, folder exists…), [`GitError::Timeout`], I/O.
    pub fn add_checkout(&self, checkout: &CheckoutLock, sha: &str) -> Result<Repo> {
        check_sha(sha)?;
        let _mirror = self.lock(&checkout.repo_path)?;
        let mirror = Repo::open(&checkout.repo_path)?;
        worktree(&mirror, &["prune"], None, self.fetch_timeout)?;
        worktree(
            &mirror,
            &["add", "--detach", "--quiet"],
            Some((&checkout.path, Some(sha))),
            self.fetch_timeout,
        )?;
        Ok(mirror)
    }

    /// `git worktree remove --force --force <checkout>` (also when it has
    /// changes or is locked), under the mirror's lock, then `prune`. A
    /// checkout git does not know (left by a crash) is not touched: the
    /// caller deletes what remains of the folder. Errors as [`Mirrors::add_checkout`].
    pub fn remove_checkout(&self, checkout: &CheckoutLock) -> Result<()> {
        let _mirror = self.lock(&checkout.repo_path)?;
        let mirror = Repo::open(&checkout.repo_path)?;
        let removed = if checkout.path.join(".git").is_file() {
            worktree(
                &mirror,
                &["remove", "--force", "--force"],
                Some((&checkout.path, None)),
                self.fetch_timeout,
            )
        } else {
            Ok(())
        };
        let pruned = worktree(&mirror, &["prune"], None, self.fetch_timeout);
        removed.and(pruned)
    }
}

/// `git --git-dir <mirror> worktree <args…> [-- <path> [<sha>]]`.
fn worktree(
    mirror: &Repo,
    args: &[&str],
    target: Option<(&Path, Option<&str>)>,
    timeout: std::time::Duration,
) -> Result<()> {
    let mut cmd = command::git_command();
    cmd.arg("--git-dir").arg(mirror.git_dir()).arg("worktree");
    cmd.args(args);
    let mut description = format!("worktree {}", args.join(" "));
    if let Some((path, sha)) = target {
        cmd.arg("--").arg(path);
        description.push_str(&format!(" -- {}", path.display()));
        if let Some(sha) = sha {
            cmd.arg(sha);
            description.push_str(&format!(" {sha}"));
        }
    }
    command::run(cmd, description, timeout)
}
