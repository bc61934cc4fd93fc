//! Push events of GitLab and GitHub webhooks, parsed into one [`PushEvent`],
//! and the checks of their secrets.
//!
//! GitLab "Push events" and "Tag push events" (docs: *Webhook events*) carry
//! `ref`, `checkout_sha` (`null` when the ref is deleted) and a `project`
//! object (`path_with_namespace`, `web_url`, `avatar_url`, `name`,
//! `default_branch`…) which QA-Board stores whole as the project's
//! `data.git` (OPERATIONS.md §5, the original's `update_project`). GitHub
//! `push` events carry `ref`, `after`, `deleted` and `repository`
//! (`full_name`, `html_url`…), mapped here to the same GitLab-shaped object.
//! Only `refs/heads/<b>` is a branch and only `refs/tags/<t>` a tag (the
//! original sliced 11 characters off any ref).

use serde_json::{json, Map, Value};

/// A ref named by a push event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushRef {
    /// `refs/heads/<name>`.
    Branch(String),
    /// `refs/tags/<name>`.
    Tag(String),
    /// Any other ref, as sent.
    Other(String),
}

impl PushRef {
    /// Classifies a full ref name.
    pub fn parse(full: &str) -> PushRef {
        if let Some(name) = full.strip_prefix("refs/heads/").filter(|n| !n.is_empty()) {
            PushRef::Branch(name.to_string())
        } else if let Some(name) = full.strip_prefix("refs/tags/").filter(|n| !n.is_empty()) {
            PushRef::Tag(name.to_string())
        } else {
            PushRef::Other(full.to_string())
        }
    }

    /// The branch name, for a branch ref.
    pub fn branch(&self) -> Option<&str> {
        match self {
            PushRef::Branch(name) => Some(name),
            _ => None,
        }
    }

    /// The tag name, for a tag ref.
    pub fn tag(&self) -> Option<&str> {
        match self {
            PushRef::Tag(name) => Some(name),
            _ => None,
        }
    }
}

/// A push, from either forge.
#[derive(Debug, Clone, PartialEq)]
pub struct PushEvent {
    /// The repository, `group/sub/repo` (GitLab `project.path_with_namespace`,
    /// GitHub `repository.full_name`); checked with [`valid_repo_path`].
    pub repo: String,
    /// The full ref as sent (`refs/heads/main`).
    pub full_ref: String,
    /// The pushed ref, classified.
    pub git_ref: PushRef,
    /// The commit the ref now points to (lower-case hex, 40 or 64
    /// characters); `None` when the ref was deleted (nothing to do).
    pub sha: Option<String>,
    /// The forge's description of the repository, GitLab-shaped: to store as
    /// the project's `data.git` (replacing the previous object).
    pub project: Value,
}

impl PushEvent {
    /// Whether the push deleted its ref.
    pub fn is_deletion(&self) -> bool {
        self.sha.is_none()
    }
}

/// Why a webhook body is refused (answer 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookError(pub String);

impl std::fmt::Display for WebhookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid push event: {}", self.0)
    }
}

impl std::error::Error for WebhookError {}

fn bad(message: impl Into<String>) -> WebhookError {
    WebhookError(message.into())
}

/// Whether `path` can name a repository (and hence a mirror folder and a
/// URL suffix): non-empty `/`-separated segments of printable characters, no
/// segment `.` or `..` or starting with `-` or `.`, no backslash, at most 512
/// bytes. GitLab's own paths (letters, digits, `_`, `-`, `.`, `+`) pass.
pub fn valid_repo_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 512
        && path.split('/').all(|segment| {
            !segment.is_empty()
                && !segment.starts_with('.')
                && !segment.starts_with('-')
                && segment
                    .chars()
                    .all(|c| !c.is_control() && c != '\\' && c != ':' && !c.is_whitespace())
        })
}

/// A commit id as sent: 40 (SHA-1) or 64 (SHA-256) hex digits, lower-cased.
/// All-zero ids (GitLab and GitHub send them for deletions) give `None`.
fn sha_of(value: Option<&Value>, field: &str) -> Result<Option<String>, WebhookError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.to_ascii_lowercase();
            if !(s.len() == 40 || s.len() == 64) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(format!("{field} is not a commit id")));
            }
            if s.bytes().all(|b| b == b'0') {
                return Ok(None);
            }
            Ok(Some(s))
        }
        Some(_) => Err(bad(format!("{field} is not a string"))),
    }
}

fn ref_of(body: &Value) -> Result<String, WebhookError> {
    body.get("ref")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .ok_or_else(|| bad("missing ref"))
}

fn checked_repo(repo: Option<&str>, field: &str) -> Result<String, WebhookError> {
    let repo = repo.ok_or_else(|| bad(format!("missing {field}")))?;
    if !valid_repo_path(repo) {
        return Err(bad(format!("{field} is not a repository path")));
    }
    Ok(repo.to_string())
}

/// Parses a GitLab push (or tag push) event body.
///
/// Errors: not JSON, no `ref`, no `project` object or no valid
/// `project.path_with_namespace`, a `checkout_sha` that is neither `null` nor
/// a commit id.
pub fn parse_gitlab_push(body: &[u8]) -> Result<PushEvent, WebhookError> {
    let body: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let full_ref = ref_of(&body)?;
    let project = body
        .get("project")
        .filter(|p| p.is_object())
        .cloned()
        .ok_or_else(|| bad("missing project"))?;
    let repo = checked_repo(
        project.get("path_with_namespace").and_then(Value::as_str),
        "project.path_with_namespace",
    )?;
    let sha = sha_of(body.get("checkout_sha"), "checkout_sha")?;
    Ok(PushEvent {
        repo,
        git_ref: PushRef::parse(&full_ref),
        full_ref,
        sha,
        project,
    })
}

/// Parses a GitHub `push` event body. The GitLab-shaped `project` has
/// `path_with_namespace` (`full_name`), `name`, `web_url` (`html_url`),
/// `http_url` (`clone_url`), `default_branch`, `avatar_url` (the owner's)
/// and `description`.
///
/// Errors: not JSON, no `ref`, no valid `repository.full_name`, a bad
/// `after`. `deleted: true` or an all-zero `after` is a deletion.
pub fn parse_github_push(body: &[u8]) -> Result<PushEvent, WebhookError> {
    let body: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let full_ref = ref_of(&body)?;
    let repository = body
        .get("repository")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("missing repository"))?;
    let repo = checked_repo(
        repository.get("full_name").and_then(Value::as_str),
        "repository.full_name",
    )?;
    let deleted = body
        .get("deleted")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let sha = if deleted {
        None
    } else {
        sha_of(body.get("after"), "after")?
    };
    let field = |name: &str| repository.get(name).cloned().unwrap_or(Value::Null);
    let mut project = Map::new();
    project.insert("path_with_namespace".into(), json!(repo));
    project.insert("name".into(), field("name"));
    project.insert("web_url".into(), field("html_url"));
    project.insert("http_url".into(), field("clone_url"));
    project.insert("default_branch".into(), field("default_branch"));
    project.insert("description".into(), field("description"));
    project.insert(
        "avatar_url".into(),
        repository
            .get("owner")
            .and_then(|o| o.get("avatar_url"))
            .cloned()
            .unwrap_or(Value::Null),
    );
    Ok(PushEvent {
        repo,
        git_ref: PushRef::parse(&full_ref),
        full_ref,
        sha,
        project: Value::Object(project),
    })
}

/// Compares a received token (GitLab's `X-Gitlab-Token`) with the
/// configured secret in time independent of where they differ, and of their
/// lengths (their SHA-256 digests are compared with `subtle`).
pub fn tokens_equal(received: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let a = Sha256::digest(received.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

/// Verifies GitHub's `X-Hub-Signature-256` header (`sha256=<64 hex>`): the
/// HMAC-SHA256 of the raw body with the webhook secret, compared in constant
/// time. A missing prefix or malformed hex is `false`.
pub fn verify_github_signature(secret: &[u8], body: &[u8], header: &str) -> bool {
    use hmac::{Hmac, Mac};
    let Some(hex) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";

    fn gitlab(r: &str, sha: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "object_kind": "push", "ref": r, "checkout_sha": sha,
            "before": "95790bf891e76fee5e1747ab589903a6a1f80f22", "after": SHA,
            "project": {"id": 15, "name": "Diaspora", "path_with_namespace": "mike/diaspora",
                        "web_url": "http://example.com/mike/diaspora", "avatar_url": null,
                        "default_branch": "master"}
        }))
        .unwrap()
    }

    #[test]
    fn gitlab_branch_tag_and_deletion() {
        let e = parse_gitlab_push(&gitlab("refs/heads/feature/x", json!(SHA))).unwrap();
        assert_eq!(e.repo, "mike/diaspora");
        assert_eq!(e.git_ref, PushRef::Branch("feature/x".into()));
        assert_eq!(e.git_ref.branch(), Some("feature/x"));
        assert_eq!(e.sha.as_deref(), Some(SHA));
        assert_eq!(e.project["web_url"], "http://example.com/mike/diaspora");
        assert_eq!(e.project["id"], 15);

        let e = parse_gitlab_push(&gitlab("refs/tags/v1.0", json!(SHA.to_uppercase()))).unwrap();
        assert_eq!(e.git_ref.tag(), Some("v1.0"));
        assert_eq!(e.git_ref.branch(), None);
        assert_eq!(e.sha.as_deref(), Some(SHA));

        let e = parse_gitlab_push(&gitlab("refs/heads/gone", Value::Null)).unwrap();
        assert!(e.is_deletion());
        assert_eq!(
            PushRef::parse("refs/merge-requests/1/head"),
            PushRef::Other("refs/merge-requests/1/head".into())
        );
    }

    #[test]
    fn gitlab_malformed() {
        assert!(parse_gitlab_push(b"not json").is_err());
        assert!(parse_gitlab_push(b"{}").is_err());
        assert!(parse_gitlab_push(&gitlab("refs/heads/m", json!("xyz"))).is_err());
        assert!(parse_gitlab_push(&gitlab("refs/heads/m", json!(12))).is_err());
        let no_project =
            serde_json::to_vec(&json!({"ref": "refs/heads/m", "checkout_sha": SHA})).unwrap();
        assert!(parse_gitlab_push(&no_project).is_err());
        for path in [
            "../etc", "a/../b", "/abs", "a//b", "a\\b", "-x/y", "a/.git", "a b", "",
        ] {
            let body = serde_json::to_vec(&json!({"ref": "refs/heads/m", "checkout_sha": SHA,
                "project": {"path_with_namespace": path}}))
            .unwrap();
            assert!(parse_gitlab_push(&body).is_err(), "{path}");
        }
        assert!(valid_repo_path("group/sub-group/my.repo_1+x"));
    }

    #[test]
    fn github_push() {
        let body = serde_json::to_vec(&json!({
            "ref": "refs/heads/main", "after": SHA, "deleted": false,
            "repository": {"full_name": "octo/hello", "name": "hello", "html_url": "https://github.com/octo/hello",
                           "clone_url": "https://github.com/octo/hello.git", "default_branch": "main",
                           "owner": {"avatar_url": "https://avatars/x"}}
        }))
        .unwrap();
        let e = parse_github_push(&body).unwrap();
        assert_eq!(e.repo, "octo/hello");
        assert_eq!(e.git_ref.branch(), Some("main"));
        assert_eq!(e.project["path_with_namespace"], "octo/hello");
        assert_eq!(e.project["avatar_url"], "https://avatars/x");
        assert_eq!(e.project["web_url"], "https://github.com/octo/hello");
        let deleted = serde_json::to_vec(
            &json!({"ref": "refs/heads/x", "after": "0".repeat(40), "deleted": true,
            "repository": {"full_name": "octo/hello"}}),
        )
        .unwrap();
        assert!(parse_github_push(&deleted).unwrap().is_deletion());
    }

    #[test]
    fn secrets() {
        assert!(tokens_equal("s3cret", "s3cret"));
        assert!(!tokens_equal("s3cret", "s3cret2"));
        assert!(!tokens_equal("", "x"));
        // Example from GitHub's documentation "Validating webhook deliveries".
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_github_signature(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            header
        ));
        assert!(!verify_github_signature(b"other", b"Hello, World!", header));
        assert!(!verify_github_signature(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            &header[7..]
        ));
        assert!(!verify_github_signature(b"k", b"b", "sha256=zz"));
    }
}
