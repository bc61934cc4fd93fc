//! Git in the API (OPERATIONS.md §5): the push webhooks (`POST
//! /webhook/gitlab`, `POST /webhook/github`), commit metadata from the
//! mirror for ingestion, and commits named by a tag or branch.
//!
//! A push is answered as soon as the event is checked and the root
//! project's `data.git` is stored; the mirror's fetch, the plan and the
//! sub-project writes continue in the background (a blocking thread), and
//! their outcome is logged and stored in the root project's
//! `data.git_sync` = `{sha, ref, status: "pending"|"ok"|"error", at,
//! error?, subprojects?, skipped?}` (`at` is RFC 3339 UTC). Nothing depends
//! on in-process state: the mirror's file lock serialises processes, and
//! every database write is a get-or-create in its own transaction.
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use qaboard_db::ingest::CommitEnvelope;
use qaboard_db::{projects, read, webhooks, DbConn, DbPool};
use qaboard_git::{plan_push, Mirrors, Repo};
use qaboard_model::webhook::{self as hook, PushEvent};
use qaboard_settings::ExposeSecret;
use serde_json::{json, Value};

use crate::state::AppState;
use crate::{run_db, ApiError};

/// Largest webhook body accepted (GitLab lists up to 20 commits, each with
/// its changed files; big pushes stay well under this).
pub const WEBHOOK_BODY_LIMIT: usize = 25 * 1024 * 1024;

/// `POST /webhook/gitlab`: a GitLab push or tag push event. 401 when
/// `gitlab_webhook_secret` is set and `X-Gitlab-Token` is missing or
/// differs (compared in constant time, `webhook::tokens_equal`); 400 for a
/// malformed event; else `{"status": "OK"}` (a deletion writes nothing).
pub async fn gitlab_webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if let Some(secret) = &state.settings.gitlab_webhook_secret {
        let received = req
            .headers()
            .get("X-Gitlab-Token")
            .and_then(|v| v.to_str().ok());
        match received {
            Some(token) if hook::tokens_equal(token, secret.expose_secret()) => {}
            Some(_) => return Err(ApiError::Unauthorized("wrong X-Gitlab-Token".into())),
            None => return Err(ApiError::Unauthorized("missing X-Gitlab-Token".into())),
        }
    }
    let event = hook::parse_gitlab_push(&body)
        .map_err(|e| ApiError::bad(format!("not a GitLab push event: {e}")))?;
    accept_push(&state, event).await
}

/// `POST /webhook/github`: a GitHub `push` event (other events, such as
/// `ping`, are answered `{"status": "OK"}` and ignored). When
/// `gitlab_webhook_secret` is set it is the HMAC key: `X-Hub-Signature-256`
/// must be the body's HMAC-SHA256 (401 otherwise).
pub async fn github_webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if let Some(secret) = &state.settings.gitlab_webhook_secret {
        let signature = req
            .headers()
            .get("X-Hub-Signature-256")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::Unauthorized("missing X-Hub-Signature-256".into()))?;
        if !hook::verify_github_signature(secret.expose_secret().as_bytes(), &body, signature) {
            return Err(ApiError::Unauthorized("wrong X-Hub-Signature-256".into()));
        }
    }
    let kind = req
        .headers()
        .get("X-GitHub-Event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("push");
    if kind != "push" {
        return Ok(ok());
    }
    let event = hook::parse_github_push(&body)
        .map_err(|e| ApiError::bad(format!("not a GitHub push event: {e}")))?;
    accept_push(&state, event).await
}

fn ok() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "OK"}))
}

/// Steps 1 and the start of 2 of OPERATIONS.md §5, then the rest in the
/// background.
async fn accept_push(state: &AppState, event: PushEvent) -> Result<HttpResponse, ApiError> {
    let Some(sha) = event.sha.clone() else {
        log::info!(
            "push webhook: {} {} deleted; nothing to do",
            event.repo,
            event.full_ref
        );
        return Ok(ok());
    };
    let pool = state.pool.clone();
    let (repo, git, full_ref) = (
        event.repo.clone(),
        event.project.clone(),
        event.full_ref.clone(),
    );
    let pending = sync_status(&sha, &full_ref, "pending");
    run_db(move || {
        let mut conn = pool.get()?;
        webhooks::set_project_git(&mut conn, &repo, &git)?;
        set_sync_status(&mut conn, &repo, pending)?;
        Ok(())
    })
    .await?;
    let pool = state.pool.clone();
    let mirrors = state.git.clone();
    let has_host = state.settings.gitlab_host.is_some();
    let token = state
        .settings
        .gitlab_access_token
        .as_ref()
        .map(|t| t.expose_secret().to_string());
    actix_web::rt::spawn(async move {
        let repo = event.repo.clone();
        let result = web::block(move || {
            let outcome = if has_host {
                sync_and_write(&pool, &mirrors, &event, token.as_deref())
            } else {
                Err("GITLAB_HOST is not set: no mirror to read".to_string())
            };
            let status = match &outcome {
                Ok(done) => {
                    let mut s = sync_status(&sha, &event.full_ref, "ok");
                    s["subprojects"] = json!(done.written);
                    s["skipped"] = json!(done.skipped);
                    s
                }
                Err(error) => {
                    let mut s = sync_status(&sha, &event.full_ref, "error");
                    s["error"] = json!(error);
                    s
                }
            };
            let stored = pool.get().map_err(|e| e.to_string()).and_then(|mut c| {
                set_sync_status(&mut c, &event.repo, status).map_err(|e| e.to_string())
            });
            if let Err(e) = stored {
                log::error!(
                    "push webhook: {}: cannot store data.git_sync: {e}",
                    event.repo
                );
            }
            outcome
        })
        .await;
        match result {
            Ok(Ok(done)) => log::info!(
                "push webhook: {repo}: {} (sub-)project(s) written, {} skipped",
                done.written.len(),
                done.skipped.len()
            ),
            Ok(Err(error)) => log::error!("push webhook: {repo}: {error}"),
            Err(e) => log::error!("push webhook: {repo}: background task failed: {e}"),
        }
    });
    Ok(ok())
}

fn sync_status(sha: &str, full_ref: &str, status: &str) -> Value {
    json!({"sha": sha, "ref": full_ref, "status": status, "at": Utc::now().to_rfc3339()})
}

fn set_sync_status(
    conn: &mut DbConn,
    project: &str,
    status: Value,
) -> Result<(), qaboard_db::DbError> {
    projects::update_project_data(conn, project, move |data| {
        if !data.is_object() {
            *data = json!({});
        }
        data["git_sync"] = status;
        Ok(())
    })
}

/// What a push wrote.
struct Written {
    written: Vec<String>,
    skipped: Vec<String>,
}

/// Steps 2–4 of OPERATIONS.md §5 (blocking): sync the mirror, plan, and
/// write each sub-project in its own transaction. Errors: the mirror could
/// not be synced or read (nothing written).
fn sync_and_write(
    pool: &DbPool,
    mirrors: &Mirrors,
    event: &PushEvent,
    token: Option<&str>,
) -> Result<Written, String> {
    let sha = event.sha.as_deref().unwrap_or_default();
    let synced = mirrors
        .sync_push(&event.repo, &event.full_ref, sha, token)
        .map_err(|e| format!("mirror sync failed: {e}"))?;
    if !synced.repo.has_commit(sha) {
        return Err(format!("commit {sha} is not in the mirror after the fetch"));
    }
    let plan = plan_push(&synced.repo, event)
        .map_err(|e| format!("cannot read commit {sha}: {e}"))?
        .ok_or_else(|| "deletion".to_string())?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let mut done = Written {
        written: Vec::new(),
        skipped: Vec::new(),
    };
    let parents = json!(plan.commit.parents);
    for sub in &plan.subprojects {
        for error in &sub.errors {
            log::warn!("push webhook: {} at {sha}: {error}", sub.project_id);
        }
        let Some(config) = &sub.qatools_config else {
            log::warn!(
                "push webhook: {} at {sha}: skipped (broken configuration)",
                sub.project_id
            );
            done.skipped.push(sub.project_id.clone());
            continue;
        };
        let pushed = plan.pushed_branch.as_deref();
        let update = |has_config: bool| sub.updates_project(has_config, pushed);
        let write = webhooks::SubProjectWrite {
            commit: CommitEnvelope {
                project: sub.project_id.clone(),
                hexsha: plan.sha.clone(),
                branch: Some(plan.branch.clone()),
                message: Some(plan.commit.message.clone()),
                committer_name: Some(plan.commit.committer_name.clone()),
                authored_datetime: Some(plan.commit.authored_datetime.with_timezone(&Utc)),
                parents: Some(parents.clone()),
                project_root: Some(plan.root_project_id.clone()),
                qaboard_config: None,
                qaboard_metrics: None,
            },
            git: &plan.git,
            qatools_config: config,
            qatools_metrics: sub.qatools_metrics.as_ref(),
            tags: &plan.tags,
            update_project: &update,
        };
        match webhooks::write_subproject(&mut conn, &write) {
            Ok(()) => done.written.push(sub.project_id.clone()),
            Err(e) => {
                log::error!(
                    "push webhook: {} at {sha}: not written: {e}",
                    sub.project_id
                );
                done.skipped.push(sub.project_id.clone());
            }
        }
    }
    Ok(done)
}

/// Repositories that may hold the commits of project `project`: its
/// `data.git.path_with_namespace` when known (`repo_hint`), then the project
/// id and each of its parents (`a/b/c`, `a/b`), as sub-projects are named
/// `<repo>/<dir>`.
fn candidate_repos(repo_hint: Option<&str>, project: &str) -> Vec<String> {
    let mut out: Vec<String> = repo_hint
        .filter(|r| hook::valid_repo_path(r))
        .map(str::to_string)
        .into_iter()
        .collect();
    let mut id = project;
    loop {
        if hook::valid_repo_path(id) && !out.iter().any(|r| r == id) {
            out.push(id.to_string());
        }
        match id.rfind('/') {
            Some(i) => id = &id[..i],
            None => break,
        }
    }
    out
}

/// The first existing mirror among `candidates` (no network access).
fn open_mirror(mirrors: &Mirrors, candidates: &[String]) -> Option<Repo> {
    candidates
        .iter()
        .find_map(|repo| mirrors.open(repo).ok().flatten())
}

/// Fills the commit fields a client left out (message, committer, authored
/// date, parents, branch) from the *existing* mirror, when it holds the
/// commit (PROTOCOL.md: "fall back to git only when absent"). Never fetches:
/// ingestion must not wait for the network. The branch is the original's
/// guess (`find_branch`: preferred `release`, `master`, `develop`, else the
/// first branch containing the commit, else `unknown`). Blocking (gix).
pub fn fill_commit_from_mirror(mirrors: &Mirrors, env: &mut CommitEnvelope) {
    let incomplete = env.message.is_none()
        || env.committer_name.is_none()
        || env.authored_datetime.is_none()
        || env.parents.is_none()
        || env.branch.is_none();
    if !incomplete || env.hexsha.len() < 4 || !env.hexsha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return;
    }
    let wanted = env.hexsha.to_ascii_lowercase();
    let candidates = candidate_repos(env.project_root.as_deref(), &env.project);
    // A short sha could also name a branch: keep only a commit it prefixes.
    let Some((repo, info)) = candidates.iter().find_map(|name| {
        let repo = mirrors.open(name).ok().flatten()?;
        let info = repo.commit(&wanted).ok()?;
        info.hexsha.starts_with(&wanted).then_some((repo, info))
    }) else {
        return;
    };
    env.message.get_or_insert(info.message.clone());
    env.committer_name
        .get_or_insert(info.committer_name.clone());
    env.authored_datetime
        .get_or_insert(info.authored_datetime.with_timezone(&Utc));
    env.parents.get_or_insert(json!(info.parents));
    if env.branch.is_none() {
        match repo.guess_branch(&info.hexsha) {
            Ok(branch) => env.branch = Some(branch),
            Err(e) => log::warn!("{}: no branch guess for {}: {e}", env.project, info.hexsha),
        }
    }
}

/// For `GET /api/v1/commit/<name>` when no commit of `project` matches
/// `name` as a sha prefix: the full sha `name` (a tag or branch) names in
/// the project's existing mirror (`Repo::resolve_name`), or `None`. Reads
/// the database (the project's `data.git`) and the mirror, never the
/// network; never creates anything.
pub fn sha_of_name(
    conn: &mut DbConn,
    mirrors: &Mirrors,
    project: &str,
    name: &str,
) -> Result<Option<String>, ApiError> {
    Ok(project_mirror(conn, mirrors, project)?.and_then(|repo| repo.resolve_name(name).ok()))
}

/// The existing mirror of `project` (its `data.git.path_with_namespace`, else
/// the project id or one of its parents), or `None`. Reads the database and
/// the mirror, never the network.
fn project_mirror(
    conn: &mut DbConn,
    mirrors: &Mirrors,
    project: &str,
) -> Result<Option<Repo>, ApiError> {
    let hint = read::project(conn, project)?.and_then(|p| {
        p.data
            .pointer("/git/path_with_namespace")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let candidates = candidate_repos(hint.as_deref(), project);
    Ok(open_mirror(mirrors, &candidates))
}

/// A project's git mirror as a source of branch heads and tags for the
/// milestone rule (OPERATIONS.md §1.3: "with a mirror, also resolve
/// `origin/<ref>` and tags"), besides what the database records.
pub struct MirrorRefs(Repo);

impl qaboard_model::milestone::RefResolver for MirrorRefs {
    /// The mirror's `origin/<branch>` (a mirror's own `refs/heads/<branch>`).
    fn branch_head(&self, branch: &str) -> Option<String> {
        let branch = branch.strip_prefix("origin/").unwrap_or(branch);
        self.0
            .ref_target(&format!("refs/remotes/origin/{branch}"))
            .or_else(|| self.0.ref_target(&format!("refs/heads/{branch}")))
    }

    /// The commit of tag `tag` (annotated tags peeled).
    fn tag_commit(&self, tag: &str) -> Option<String> {
        self.0.ref_target(&format!("refs/tags/{tag}"))
    }
}

/// The existing mirror of `project` as a [`MirrorRefs`], or `None` (no
/// mirror yet, or the project is unknown). Reads the database and the
/// mirror, never the network. Blocking (gix).
pub fn mirror_refs(
    conn: &mut DbConn,
    mirrors: &Mirrors,
    project: &str,
) -> Result<Option<MirrorRefs>, ApiError> {
    Ok(project_mirror(conn, mirrors, project)?.map(MirrorRefs))
}

#[cfg(test)]
mod tests {
    use super::candidate_repos;

    #[test]
    fn candidates_walk_up_from_the_project() {
        assert_eq!(
            candidate_repos(Some("g/r"), "g/r/a/b"),
            vec!["g/r", "g/r/a/b", "g/r/a", "g"]
        );
        assert_eq!(candidate_repos(Some("../x"), "p"), vec!["p"]);
    }
}
