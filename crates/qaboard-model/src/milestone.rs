//! Which commits are milestones: results that must never be deleted (commit
//! batch deletion answers 403, garbage collection skips them).
//!
//! Rule source: the original's `Project.protected_refs` and
//! `Project.milestone_commits` (`backend/models/Project.py`), restated
//! without git in OPERATIONS.md §1.3 ("Intended without git"), and the
//! webapp's `has_milestones` (`webapp/src/components/milestones.js`).
//!
//! The protected refs are `[project.reference_branch (default master),
//! *project.milestones]` of the project's stored `qaboard.yaml`. A commit is
//! a milestone when, for some ref `r`:
//! 1. it is the latest commit recorded on branch `r` or `origin/r`;
//! 2. `r` is a sha prefix (at least 7 hex digits) of its hash;
//! 3. it carries a tag named `r` (`commit.data.tags`);
//!
//! or 4. it is the `.commit` of one of the project's shared milestones
//! (`project.data.milestones`, keyed `<project>/<sha>/<batch>`).
//!
//! Where commits come from (database, git mirror) is the caller's business:
//! it answers "latest commit of branch `b`" through a [`RefResolver`], and
//! may add a second resolver (a git mirror resolving `origin/<ref>` and
//! tags) without the rule moving out of this module.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::rules::reference_branch;

/// Minimum length of a ref read as a commit hash prefix.
pub const MIN_SHA_PREFIX: usize = 7;

/// Answers questions about refs that need more than the candidate commit.
pub trait RefResolver {
    /// Hash of the latest commit on branch `branch` (given without
    /// `origin/`): for the database, the latest commit whose recorded branch
    /// is `branch` or `origin/branch`; for a git mirror, `origin/branch`.
    fn branch_head(&self, branch: &str) -> Option<String>;

    /// Hash of the commit a tag points to (peeled), when known.
    fn tag_commit(&self, _tag: &str) -> Option<String> {
        None
    }
}

/// A resolver that knows no ref.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRefs;

impl RefResolver for NoRefs {
    fn branch_head(&self, _branch: &str) -> Option<String> {
        None
    }
}

/// Precomputed branch heads: branch name (without `origin/`) → hash.
impl RefResolver for BTreeMap<String, String> {
    fn branch_head(&self, branch: &str) -> Option<String> {
        self.get(branch).cloned()
    }
}

/// Precomputed branch heads: branch name (without `origin/`) → hash.
impl RefResolver for HashMap<String, String> {
    fn branch_head(&self, branch: &str) -> Option<String> {
        self.get(branch).cloned()
    }
}

/// A callback `branch → latest hash` as a resolver.
pub struct BranchHeadsFn<F>(pub F);

impl<F: Fn(&str) -> Option<String>> RefResolver for BranchHeadsFn<F> {
    fn branch_head(&self, branch: &str) -> Option<String> {
        (self.0)(branch)
    }
}

/// The commit being judged.
#[derive(Debug, Clone, Copy)]
pub struct MilestoneCandidate<'a> {
    /// Full commit hash.
    pub hexsha: &'a str,
    /// The branch recorded with the commit (may start with `origin/`).
    pub branch: Option<&'a str>,
    /// Tags recorded for the commit (see [`commit_tags`]).
    pub tags: &'a [String],
}

/// Why a commit is a milestone (the first rule that applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MilestoneReason {
    /// Latest commit of this protected branch.
    BranchHead(String),
    /// This protected ref is a prefix of the commit hash.
    ShaPrefix(String),
    /// The commit carries this protected tag.
    Tag(String),
    /// A shared milestone of the webapp names this commit.
    Shared,
}

/// The milestone rule of one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Milestones {
    refs: Vec<String>,
    shared: BTreeSet<String>,
}

impl Milestones {
    /// Reads the rule from a project's stored `qaboard.yaml` (the JSON in
    /// `project.data.qatools_config`) and its shared milestones
    /// (`project.data.milestones`). Missing or malformed parts count as
    /// empty.
    pub fn new(qaboard_config: &Value, shared_milestones: &Value) -> Milestones {
        Milestones {
            refs: protected_refs(qaboard_config),
            shared: shared_milestone_commits(shared_milestones),
        }
    }

    /// The protected refs, reference branch first, without duplicates.
    pub fn refs(&self) -> &[String] {
        &self.refs
    }

    /// The hashes named by shared milestones, sorted.
    pub fn shared_commits(&self) -> &BTreeSet<String> {
        &self.shared
    }

    /// Whether a branch name is a protected ref, with or without `origin/`
    /// on either side (garbage collection keeps such branches unless
    /// allowed; the original compared `branch` to `ref` and `origin/ref`).
    pub fn is_protected_branch(&self, branch: &str) -> bool {
        let branch = strip_origin_prefix(branch);
        self.refs.iter().any(|r| strip_origin_prefix(r) == branch)
    }

    /// Why `commit` is a milestone, or `None`. `heads` answers for the
    /// database (consulted only when the commit's own branch is the ref,
    /// since the latest commit of `b` is recorded on `b`); `extra` (e.g. a
    /// git mirror) is asked about every ref's branch head and tag.
    pub fn reason(
        &self,
        commit: &MilestoneCandidate<'_>,
        heads: &dyn RefResolver,
        extra: Option<&dyn RefResolver>,
    ) -> Option<MilestoneReason> {
        let sha = commit.hexsha.to_ascii_lowercase();
        let same = |other: Option<String>| other.is_some_and(|o| o.eq_ignore_ascii_case(&sha));
        let own_branch = commit.branch.map(strip_origin_prefix);
        for r in &self.refs {
            let b = strip_origin_prefix(r);
            if (own_branch == Some(b) && same(heads.branch_head(b)))
                || extra.is_some_and(|x| same(x.branch_head(b)))
            {
                return Some(MilestoneReason::BranchHead(r.clone()));
            }
            if is_sha_prefix(r) && sha.starts_with(&r.to_ascii_lowercase()) {
                return Some(MilestoneReason::ShaPrefix(r.clone()));
            }
            if commit.tags.iter().any(|t| t == r) || extra.is_some_and(|x| same(x.tag_commit(r))) {
                return Some(MilestoneReason::Tag(r.clone()));
            }
        }
        self.shared
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&sha))
            .then_some(MilestoneReason::Shared)
    }

    /// Whether `commit` is a milestone (see [`Milestones::reason`]).
    pub fn is_milestone(
        &self,
        commit: &MilestoneCandidate<'_>,
        heads: &dyn RefResolver,
        extra: Option<&dyn RefResolver>,
    ) -> bool {
        self.reason(commit, heads, extra).is_some()
    }
}

/// Branch heads as the database knows them, for [`RefResolver`]: for each
/// branch (without `origin/`), the hash of its most recently authored commit
/// among `commits` = `(hexsha, recorded branch, authored time)`. Commits
/// without a branch or time are ignored; on equal times the later item wins.
pub fn branch_heads<'a, T: PartialOrd + Clone + 'a>(
    commits: impl IntoIterator<Item = (&'a str, Option<&'a str>, Option<T>)>,
) -> BTreeMap<String, String> {
    let mut latest: BTreeMap<String, (T, String)> = BTreeMap::new();
    for (sha, branch, time) in commits {
        let (Some(branch), Some(time)) = (branch, time) else {
            continue;
        };
        let branch = strip_origin_prefix(branch).to_string();
        let newer = latest.get(&branch).is_none_or(|(t, _)| time >= *t);
        if newer {
            latest.insert(branch, (time, sha.to_string()));
        }
    }
    latest.into_iter().map(|(b, (_, sha))| (b, sha)).collect()
}

fn strip_origin_prefix(branch: &str) -> &str {
    branch.strip_prefix("origin/").unwrap_or(branch)
}

fn is_sha_prefix(r: &str) -> bool {
    r.len() >= MIN_SHA_PREFIX && r.len() <= 40 && r.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `[project.reference_branch (default master), *project.milestones]` from a
/// stored `qaboard.yaml` (as the original's `Project.protected_refs`).
/// `milestones` may be a list (as documented), a mapping (its values, as the
/// webapp reads it) or a single string; numbers are written out, other
/// entries ignored. Duplicates are dropped, order kept.
pub fn protected_refs(qaboard_config: &Value) -> Vec<String> {
    let mut refs = vec![reference_branch(qaboard_config).to_string()];
    let entries: Vec<&Value> = match qaboard_config.pointer("/project/milestones") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Object(map)) => map.values().collect(),
        Some(v @ Value::String(_)) => vec![v],
        _ => Vec::new(),
    };
    for entry in entries {
        let name = match entry {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        if !name.is_empty() && !refs.contains(&name) {
            refs.push(name);
        }
    }
    refs
}

/// The tags recorded for a commit in `commit.data.tags`: a list of names
/// (a single string is accepted too).
pub fn commit_tags(commit_data: &Value) -> Vec<String> {
    match commit_data.get("tags") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The `.commit` of every shared milestone (`project.data.milestones`, an
/// object of `{label, notes, commit, branch, batch, filter, date, …}`).
pub fn shared_milestone_commits(shared_milestones: &Value) -> BTreeSet<String> {
    shared_milestones
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(|m| m.get("commit").and_then(Value::as_str))
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// The webapp's `has_milestones`: some key of `project.data.milestones`
/// starts with `<project>/<hexsha>/<batch label>` (`<project>/<hexsha>/` when
/// no batch is given). The webapp disables "Delete All Runs" then.
pub fn webapp_has_milestones(
    shared_milestones: &Value,
    project: &str,
    hexsha: &str,
    batch_label: Option<&str>,
) -> bool {
    let prefix = format!("{project}/{hexsha}/{}", batch_label.unwrap_or(""));
    shared_milestones
        .as_object()
        .is_some_and(|m| m.keys().any(|k| k.starts_with(&prefix)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn config() -> Value {
        json!({"project": {"reference_branch": "develop", "milestones": ["release/1.0", "v2.0", "0123456", 2021]}})
    }

    fn candidate<'a>(branch: Option<&'a str>, tags: &'a [String]) -> MilestoneCandidate<'a> {
        MilestoneCandidate {
            hexsha: SHA,
            branch,
            tags,
        }
    }

    #[test]
    fn protected_refs_from_config() {
        assert_eq!(
            protected_refs(&config()),
            ["develop", "release/1.0", "v2.0", "0123456", "2021"]
        );
        assert_eq!(protected_refs(&json!({})), ["master"]);
        assert_eq!(
            protected_refs(&json!({"project": {"milestones": "v1"}})),
            ["master", "v1"]
        );
        assert_eq!(
            protected_refs(&json!({"project": {"milestones": {"a": "master", "b": "v3"}}})),
            ["master", "v3"]
        );
        assert_eq!(protected_refs(&json!({"project": "oops"})), ["master"]);
    }

    #[test]
    fn latest_commit_of_a_protected_branch() {
        let rule = Milestones::new(&json!({}), &json!({}));
        let heads: BTreeMap<String, String> = [("master".to_string(), SHA.to_string())].into();
        for branch in ["master", "origin/master"] {
            assert_eq!(
                rule.reason(&candidate(Some(branch), &[]), &heads, None),
                Some(MilestoneReason::BranchHead("master".into()))
            );
        }
        // Another branch, or an older commit of master, is not protected.
        assert!(!rule.is_milestone(&candidate(Some("feature"), &[]), &heads, None));
        let older: BTreeMap<String, String> = [("master".into(), "f".repeat(40))].into();
        assert!(!rule.is_milestone(&candidate(Some("master"), &[]), &older, None));
        // The callback form.
        let f = BranchHeadsFn(|b: &str| (b == "master").then(|| SHA.to_string()));
        assert!(rule.is_milestone(&candidate(Some("master"), &[]), &f, None));
    }

    #[test]
    fn branch_heads_from_recorded_commits() {
        let heads = branch_heads([
            ("a", Some("master"), Some(1)),
            ("b", Some("origin/master"), Some(3)),
            ("c", Some("master"), Some(2)),
            ("d", Some("feature"), None),
            ("e", None, Some(9)),
            ("f", Some("dev"), Some(5)),
            ("g", Some("dev"), Some(5)),
        ]);
        assert_eq!(heads.get("master").map(String::as_str), Some("b"));
        assert_eq!(heads.get("dev").map(String::as_str), Some("g"));
        assert_eq!(heads.len(), 2);
        let rule = Milestones::new(&json!({}), &json!({}));
        let c = MilestoneCandidate {
            hexsha: "b",
            branch: Some("origin/master"),
            tags: &[],
        };
        assert!(rule.is_milestone(&c, &heads, None));
    }

    #[test]
    fn sha_prefix_refs() {
        let rule = Milestones::new(&config(), &json!({}));
        assert_eq!(
            rule.reason(&candidate(None, &[]), &NoRefs, None),
            Some(MilestoneReason::ShaPrefix("0123456".into()))
        );
        // Fewer than 7 hex digits is a branch name, not a prefix.
        let short = Milestones::new(&json!({"project": {"milestones": ["012345"]}}), &json!({}));
        assert!(!short.is_milestone(&candidate(None, &[]), &NoRefs, None));
        let upper = Milestones::new(
            &json!({"project": {"milestones": ["0123456789ABC"]}}),
            &json!({}),
        );
        assert!(upper.is_milestone(&candidate(None, &[]), &NoRefs, None));
    }

    #[test]
    fn tags_recorded_on_the_commit() {
        let rule = Milestones::new(&json!({"project": {"milestones": ["v2.0"]}}), &json!({}));
        let tags = commit_tags(&json!({"tags": ["v2.0", 3]}));
        assert_eq!(tags, ["v2.0"]);
        assert_eq!(
            rule.reason(&candidate(Some("x"), &tags), &NoRefs, None),
            Some(MilestoneReason::Tag("v2.0".into()))
        );
        let other = commit_tags(&json!({"tags": "v1.0"}));
        assert!(!rule.is_milestone(&candidate(Some("x"), &other), &NoRefs, None));
    }

    #[test]
    fn shared_milestones_of_the_webapp() {
        let shared = json!({
            "g/r/0123/default": {"label": "best", "commit": SHA, "batch": "default"},
            "bad": "not an object"
        });
        let rule = Milestones::new(&json!({}), &shared);
        assert_eq!(
            rule.reason(&candidate(Some("feature"), &[]), &NoRefs, None),
            Some(MilestoneReason::Shared)
        );
        assert_eq!(rule.shared_commits().len(), 1);
        assert!(!Milestones::new(&json!({}), &json!([])).is_milestone(
            &candidate(None, &[]),
            &NoRefs,
            None
        ));
    }

    struct Mirror;
    impl RefResolver for Mirror {
        fn branch_head(&self, branch: &str) -> Option<String> {
            (branch == "release/1.0").then(|| SHA.to_string())
        }
        fn tag_commit(&self, tag: &str) -> Option<String> {
            (tag == "v9").then(|| SHA.to_uppercase())
        }
    }

    #[test]
    fn an_extra_resolver_adds_git_heads_and_tags() {
        let rule = Milestones::new(&config(), &json!({}));
        let other_sha = "f".repeat(40);
        let c = MilestoneCandidate {
            hexsha: &other_sha,
            branch: Some("feature"),
            tags: &[],
        };
        assert!(!rule.is_milestone(&c, &NoRefs, Some(&Mirror)));
        let c = candidate(Some("feature"), &[]);
        let rule = Milestones::new(
            &json!({"project": {"milestones": ["release/1.0"]}}),
            &json!({}),
        );
        assert_eq!(
            rule.reason(&c, &NoRefs, Some(&Mirror)),
            Some(MilestoneReason::BranchHead("release/1.0".into()))
        );
        let rule = Milestones::new(&json!({"project": {"milestones": ["v9"]}}), &json!({}));
        assert_eq!(
            rule.reason(&c, &NoRefs, Some(&Mirror)),
            Some(MilestoneReason::Tag("v9".into()))
        );
    }

    #[test]
    fn protected_branches_ignore_origin() {
        let rule = Milestones::new(&config(), &json!({}));
        for b in [
            "develop",
            "origin/develop",
            "release/1.0",
            "origin/release/1.0",
        ] {
            assert!(rule.is_protected_branch(b), "{b}");
        }
        assert!(!rule.is_protected_branch("master"));
        assert!(!rule.is_protected_branch("origin/feature"));
    }

    #[test]
    fn webapp_disables_deletion_on_shared_milestone_keys() {
        let shared = json!({"g/r/sub/abc123/default": {"commit": "abc123"}});
        assert!(webapp_has_milestones(&shared, "g/r/sub", "abc123", None));
        assert!(webapp_has_milestones(
            &shared,
            "g/r/sub",
            "abc123",
            Some("default")
        ));
        assert!(!webapp_has_milestones(
            &shared,
            "g/r/sub",
            "abc123",
            Some("other")
        ));
        assert!(!webapp_has_milestones(&shared, "g/r", "abc123", None));
        assert!(!webapp_has_milestones(&shared, "g/r/sub", "abc12", None));
        assert!(!webapp_has_milestones(
            &json!(null),
            "g/r/sub",
            "abc123",
            None
        ));
    }
}
