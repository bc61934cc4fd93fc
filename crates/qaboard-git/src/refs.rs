//! Refs: tags and branch heads, the branch a commit probably comes from, and
//! names resolved to commits.

use crate::{is_origin_mirror, other, GitError, Repo, Result};

/// The branches preferred by [`Repo::guess_branch`], in order (the
/// original's `find_branch`).
pub const PREFERRED_BRANCHES: [&str; 3] = ["origin/release", "origin/master", "origin/develop"];

impl Repo {
    /// Whether the repository holds the commit with the full hex id `sha`
    /// (no revision parsing: other strings give `false`).
    pub fn has_commit(&self, sha: &str) -> bool {
        let Ok(id) = gix::ObjectId::from_hex(sha.as_bytes()) else {
            return false;
        };
        let repo = self.local();
        let is_commit = matches!(
            repo.try_find_header(id),
            Ok(Some(header)) if header.kind() == gix::object::Kind::Commit
        );
        is_commit
    }

    /// The full sha of the commit the full ref name `full_ref` points to
    /// (annotated tags peeled), or `None` when there is no such ref (or it
    /// does not lead to a commit, or the name is invalid).
    pub fn ref_target(&self, full_ref: &str) -> Option<String> {
        let name = gix::refs::FullName::try_from(full_ref).ok()?;
        let repo = self.local();
        let mut reference = repo.try_find_reference(name.as_ref()).ok()??;
        let commit = reference.peel_to_commit().ok()?;
        Some(commit.id.to_string())
    }

    /// The remote branches and the commit each points to, as `git branch -r`
    /// names them: `origin/<branch>`. In a mirror these are its
    /// `refs/heads/*`; in a regular clone its `refs/remotes/*` (without the
    /// symbolic `*/HEAD`). Sorted by name.
    pub fn branch_heads(&self) -> Result<Vec<(String, String)>> {
        let repo = self.local();
        let mirror = is_origin_mirror(&repo);
        let platform = repo.references().map_err(other)?;
        let iter = if mirror {
            platform.local_branches()
        } else {
            platform.remote_branches()
        }
        .map_err(other)?;
        let mut heads = Vec::new();
        for reference in iter {
            let mut reference = reference.map_err(other)?;
            let full = reference.name().as_bstr().to_string();
            let name = if mirror {
                format!("origin/{}", &full["refs/heads/".len()..])
            } else {
                full["refs/remotes/".len()..].to_string()
            };
            if name.ends_with("/HEAD") {
                continue;
            }
            // Branches pointing at non-commits are skipped.
            let Ok(commit) = reference.peel_to_commit() else {
                continue;
            };
            heads.push((name, commit.id.to_string()));
        }
        heads.sort();
        Ok(heads)
    }

    /// The tags (short names) pointing at commit `sha`, annotated tags
    /// peeled (`git tag --points-at`). Sorted.
    pub fn tags_at(&self, sha: &str) -> Result<Vec<String>> {
        let Ok(id) = gix::ObjectId::from_hex(sha.as_bytes()) else {
            return Ok(Vec::new());
        };
        let repo = self.local();
        let platform = repo.references().map_err(other)?;
        let mut tags = Vec::new();
        for reference in platform.tags().map_err(other)? {
            let mut reference = reference.map_err(other)?;
            let name = reference.name().as_bstr().to_string();
            let Ok(peeled) = reference.peel_to_id() else {
                continue;
            };
            if peeled.detach() == id {
                tags.push(name["refs/tags/".len()..].to_string());
            }
        }
        tags.sort();
        Ok(tags)
    }

    /// The remote branches whose history contains commit `sha`
    /// (`git branch -r --contains`), sorted. Unknown commits have none.
    pub fn branches_containing(&self, sha: &str) -> Result<Vec<String>> {
        if !self.has_commit(sha) {
            return Ok(Vec::new());
        }
        let id = gix::ObjectId::from_hex(sha.as_bytes()).map_err(other)?;
        let repo = self.local();
        let cache = repo.commit_graph_if_enabled().map_err(other)?;
        let mut graph = repo.revision_graph(cache.as_ref());
        let mut out = Vec::new();
        for (name, head) in self.branch_heads()? {
            let head = gix::ObjectId::from_hex(head.as_bytes()).map_err(other)?;
            let contains = head == id
                || repo
                    .merge_base_with_graph(id, head, &mut graph)
                    .map_err(other)?
                    .is_some_and(|base| base.detach() == id);
            if contains {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// Guesses the branch commit `sha` comes from, as the original's
    /// `find_branch`: among [`Repo::branches_containing`], the first of
    /// [`PREFERRED_BRANCHES`], else the first by name, else `"unknown"`.
    pub fn guess_branch(&self, sha: &str) -> Result<String> {
        let branches = self.branches_containing(sha)?;
        Ok(PREFERRED_BRANCHES
            .iter()
            .find(|b| branches.iter().any(|x| x == *b))
            .map(|b| b.to_string())
            .or_else(|| branches.first().cloned())
            .unwrap_or_else(|| "unknown".to_string()))
    }

    /// Resolves a tag or branch *name* (not a sha or an expression) to the
    /// full sha of its commit, trying in order the tag `refs/tags/<name>`
    /// (annotated tags peeled), the remote branch `origin/<name>` (a mirror's
    /// `refs/heads/<name>`), and a local branch `refs/heads/<name>`.
    ///
    /// For `GET /api/v1/commit/<name>` (OPERATIONS.md §5). Errors:
    /// [`GitError::NotFound`] when none exists or `name` is not a valid ref
    /// name.
    pub fn resolve_name(&self, name: &str) -> Result<String> {
        let not_found = || GitError::NotFound {
            rev: name.to_string(),
        };
        if name.is_empty() || name.starts_with('-') {
            return Err(not_found());
        }
        let repo = self.local();
        let mut candidates = vec![format!("refs/tags/{name}")];
        if is_origin_mirror(&repo) {
            candidates.push(format!("refs/heads/{name}"));
        } else {
            candidates.push(format!("refs/remotes/origin/{name}"));
            candidates.push(format!("refs/heads/{name}"));
        }
        for candidate in candidates {
            let Ok(full) = gix::refs::FullName::try_from(candidate.as_str()) else {
                return Err(not_found());
            };
            let Ok(Some(mut reference)) = repo.try_find_reference(full.as_ref()) else {
                continue;
            };
            if let Ok(commit) = reference.peel_to_commit() {
                return Ok(commit.id.to_string());
            }
        }
        Err(not_found())
    }
}
