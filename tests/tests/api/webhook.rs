//! Git push webhooks and git lookups (issue 12, OPERATIONS.md §5) through
//! the real server on both databases: repositories made with `git` in a
//! temporary folder, served as `GITLAB_HOST=file://…`.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use qaboard_api::AppState;
use qaboard_db::DbConn;
use qaboard_settings::Settings;
use qaboard_tests::{encode, spawn_app_with_state, Client, TestApp, TestDb};
use serde_json::{json, Value};

const SECRET: &str = "s3cret-token";
const REPO: &str = "group/repo";

fn backends() -> Vec<TestDb> {
    let mut dbs = vec![TestDb::sqlite()];
    dbs.extend(TestDb::postgres());
    dbs
}

/// Runs git in `dir` with a fixed identity and no user configuration.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ada Author")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Carl Committer")
        .env("GIT_COMMITTER_EMAIL", "carl@example.com")
        .env("GIT_AUTHOR_DATE", "2024-03-04T05:06:07+02:00")
        .env("GIT_COMMITTER_DATE", "2024-03-04T05:06:07+02:00")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `<remote>/group/repo`: a root config with a metrics file, nested
/// sub-projects `a` and `a/b`, a broken `broken/qaboard.yaml`, and a second
/// commit. Returns (first sha, second sha).
fn make_repo(remote: &Path) -> (String, String) {
    let dir = remote.join(REPO);
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "master"]);
    write(
        &dir,
        "qaboard.yaml",
        "project:\n  reference_branch: master\noutputs:\n  metrics: metrics.yaml\nlevel: root\n",
    );
    write(
        &dir,
        "metrics.yaml",
        "available_metrics:\n  psnr:\n    label: PSNR\n",
    );
    write(&dir, "a/qaboard.yaml", "level: a\nonly_a: 1\n");
    write(&dir, "a/b/qatools.yaml", "level: b\n");
    write(&dir, "broken/qaboard.yaml", "level: [unclosed\n  : :\n");
    write(&dir, "src/main.c", "int main() { return 0; }\n");
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "First commit"]);
    let first = git(&dir, &["rev-parse", "HEAD"]);
    write(&dir, "src/main.c", "int main() { return 1; }\n");
    git(
        &dir,
        &["commit", "-q", "-am", "Second commit\n\nWith a body."],
    );
    let second = git(&dir, &["rev-parse", "HEAD"]);
    (first, second)
}

struct Server {
    app: TestApp,
    git_dir: PathBuf,
}

fn serve(db: TestDb, remote: &Path, data: &Path, secret: Option<&str>) -> Server {
    let git_dir = data.join("git");
    let settings = Settings {
        data_dir: data.to_path_buf(),
        gitlab_host: Some(format!("file://{}", remote.display())),
        gitlab_webhook_secret: secret.map(|s| s.to_string().into()),
        ..Settings::default()
    };
    let state = AppState::from_settings(db.pool.clone(), settings);
    let app = spawn_app_with_state(db, state);
    Server { app, git_dir }
}

fn gitlab_event(full_ref: &str, sha: Option<&str>) -> Value {
    json!({
        "object_kind": "push",
        "ref": full_ref,
        "checkout_sha": sha,
        "project": {
            "path_with_namespace": REPO,
            "name": "repo",
            "web_url": "https://gitlab.example.com/group/repo",
            "default_branch": "master",
        },
    })
}

fn post_hook(app: &TestApp, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let mut req = ureq::post(&format!("{}{path}", app.base))
        .timeout(Duration::from_secs(60))
        .set("Content-Type", "application/json");
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = match req.send_bytes(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {path}: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

fn push(app: &TestApp, full_ref: &str, sha: Option<&str>) {
    let body = gitlab_event(full_ref, sha).to_string();
    let (status, answer) = post_hook(
        app,
        "/webhook/gitlab",
        &[("X-Gitlab-Token", SECRET)],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"status": "OK"}));
}

/// Polls the root project until the background sync of (`sha`, `full_ref`)
/// is done (bounded wait); returns the root project's data.
fn wait_sync(c: &Client, sha: &str, full_ref: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = c.get(&format!("/api/v1/project?project={}", encode(REPO)));
        if r.status == 200 {
            let data = r.json();
            let s = &data["git_sync"];
            if s["sha"] == sha && s["ref"] == full_ref && s["status"] != "pending" {
                return data;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no sync of {sha} {full_ref}: {}",
            r.body
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn get_json(c: &Client, path: &str) -> Value {
    let r = c.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.json()
}

fn commit_of(c: &Client, project: &str, name: &str) -> Value {
    get_json(
        c,
        &format!("/api/v1/commit/{name}?project={}", encode(project)),
    )
}

fn count(app: &TestApp, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = qaboard_db::pool::establish(&app.db.url).expect("connect");
    let rows: Vec<N> = match &mut conn {
        DbConn::Pg(c) => diesel::sql_query(sql).load(&mut **c),
        DbConn::Sqlite(c) => diesel::sql_query(sql).load(&mut **c),
    }
    .expect("count");
    rows[0].n
}

#[test]
fn secret_is_required_and_bad_events_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for db in backends() {
        let server = serve(db, &tmp.path().join("remote"), tmp.path(), Some(SECRET));
        let app = &server.app;
        let body = gitlab_event("refs/heads/master", Some(&"a".repeat(40))).to_string();
        for headers in [vec![], vec![("X-Gitlab-Token", "wrong")]] {
            let (status, answer) = post_hook(app, "/webhook/gitlab", &headers, body.as_bytes());
            assert_eq!(status, 401, "{answer}");
            assert!(answer["error"].is_string());
        }
        for bad in [
            "not json".to_string(),
            json!({"ref": "refs/heads/master"}).to_string(),
            json!({"ref": "refs/heads/x", "checkout_sha": "zz", "project": {"path_with_namespace": REPO}}).to_string(),
            json!({"ref": "refs/heads/x", "checkout_sha": null, "project": {"path_with_namespace": "../etc"}}).to_string(),
        ] {
            let (status, answer) = post_hook(
                app,
                "/webhook/gitlab",
                &[("X-Gitlab-Token", SECRET)],
                bad.as_bytes(),
            );
            assert_eq!(status, 400, "{bad}: {answer}");
            assert!(answer["error"].is_string());
        }
        // Nothing was written.
        assert_eq!(count(app, "SELECT count(*) AS n FROM projects"), 0);
        // GitHub: the same secret as HMAC key.
        let (status, _) = post_hook(
            app,
            "/webhook/github",
            &[("X-Hub-Signature-256", "sha256=00")],
            b"{}",
        );
        assert_eq!(status, 401);
    }
}

#[test]
fn push_writes_subprojects_tags_and_names() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, db) in backends().into_iter().enumerate() {
        // A repository per backend: the test tags it.
        let remote = tmp.path().join(format!("remote{i}"));
        let (first, second) = make_repo(&remote);
        let data = tmp.path().join(format!("data{i}"));
        let server = serve(db, &remote, &data, Some(SECRET));
        let (app, c) = (&server.app, Client::new(&server.app));

        push(app, "refs/heads/master", Some(&first));
        let root = wait_sync(&c, &first, "refs/heads/master");
        let sync = &root["git_sync"];
        assert_eq!(sync["status"], "ok", "{sync}");
        assert_eq!(sync["skipped"], json!(["group/repo/broken"]));
        assert_eq!(
            root["git"]["web_url"],
            "https://gitlab.example.com/group/repo"
        );
        assert_eq!(root["qatools_config"]["project"]["name"], REPO);

        let projects = get_json(&c, "/api/v1/projects");
        let ids: Vec<&str> = projects
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_else(|| {
                projects
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["id"].as_str().unwrap())
                    .collect()
            });
        for id in ["group/repo", "group/repo/a", "group/repo/a/b"] {
            assert!(ids.contains(&id), "{id} not in {ids:?}");
        }
        assert!(!ids.contains(&"group/repo/broken"), "{ids:?}");

        let b = get_json(
            &c,
            &format!("/api/v1/project?project={}", encode("group/repo/a/b")),
        );
        assert_eq!(b["git"]["path_with_namespace"], REPO);
        let config = &b["qatools_config"];
        assert_eq!(config["project"]["name"], "group/repo/a/b");
        assert_eq!(config["level"], "b");
        assert_eq!(config["only_a"], 1);
        assert_eq!(
            b["qatools_metrics"]["available_metrics"]["psnr"]["label"],
            "PSNR"
        );

        let commit = commit_of(&c, "group/repo/a", &first);
        assert_eq!(commit["id"], first.as_str());
        assert_eq!(commit["branch"], "master");
        assert_eq!(commit["committer_name"], "Carl Committer");
        assert!(commit["message"]
            .as_str()
            .unwrap()
            .starts_with("First commit"));
        assert_eq!(
            commit["data"]["qatools_config"]["project"]["name"],
            "group/repo/a"
        );
        assert_eq!(commit["data"]["tags"], json!([]));

        // A tag push records the tag on the commit rows.
        git(
            &remote.join(REPO),
            &["tag", "-a", "v1.0", "-m", "release", &first],
        );
        push(app, "refs/tags/v1.0", Some(&first));
        assert_eq!(
            wait_sync(&c, &first, "refs/tags/v1.0")["git_sync"]["status"],
            "ok"
        );
        let commit = commit_of(&c, "group/repo/a", &first);
        assert_eq!(commit["data"]["tags"], json!(["v1.0"]));
        assert_eq!(commit["branch"], "master");

        // A tag or a branch name resolves through the mirror to a recorded
        // commit; unknown names are 404 and nothing is created.
        assert_eq!(
            commit_of(&c, "group/repo/a/b", "v1.0")["id"],
            first.as_str()
        );
        let commits_before = count(app, "SELECT count(*) AS n FROM ci_commits");
        // `master` is at `second` in the mirror, which is not recorded.
        for name in ["master", "no-such-tag", "v9"] {
            let r = c.get(&format!("/api/v1/commit/{name}?project={}", encode(REPO)));
            assert_eq!(r.status, 404, "{name}: {}", r.body);
        }
        assert_eq!(
            count(app, "SELECT count(*) AS n FROM ci_commits"),
            commits_before
        );

        // A branch deletion does nothing.
        push(app, "refs/heads/feature", None);
        assert_eq!(
            wait_sync(&c, &first, "refs/tags/v1.0")["git_sync"]["status"],
            "ok"
        );

        // Metadata of a commit the mirror has but the database does not:
        // filled from git when the client sends none.
        let r = c.post(
            "/api/v1/batch/",
            &json!({"project": REPO, "commit_sha": second, "batch_label": "default"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let commit = commit_of(&c, REPO, &second);
        assert_eq!(commit["committer_name"], "Carl Committer");
        assert!(commit["message"]
            .as_str()
            .unwrap()
            .starts_with("Second commit"));
        assert_eq!(commit["branch"], "master");
        assert!(
            commit["authored_datetime"]
                .as_str()
                .unwrap()
                .starts_with("2024-03-04T03:06:07"),
            "{commit}"
        );
        let parents = count(
            app,
            &format!(
                "SELECT count(*) AS n FROM ci_commits WHERE hexsha = '{second}' AND parents IS NOT NULL"
            ),
        );
        assert_eq!(parents, 1);
        // Now recorded, `master` names it.
        assert_eq!(commit_of(&c, REPO, "master")["id"], second.as_str());
        // A client's own values win.
        let r = c.post(
            "/api/v1/commit/",
            &json!({"project": "group/repo/a", "commit_sha": second,
                    "commit_message": "mine", "commit_committer_name": "me",
                    "commit_branch": "dev", "commit_parents": [],
                    "commit_authored_datetime": "2020-01-01T00:00:00Z"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let commit = commit_of(&c, "group/repo/a", &second);
        assert_eq!(commit["message"], "mine");
        assert_eq!(commit["branch"], "dev");

        // A merge commit pushed to master: written like any other.
        let dir = remote.join(REPO);
        git(&dir, &["checkout", "-q", "-b", "feature", &first]);
        write(&dir, "a/feature.txt", "x\n");
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-q", "-m", "Feature"]);
        git(&dir, &["checkout", "-q", "master"]);
        git(
            &dir,
            &["merge", "-q", "--no-ff", "-m", "Merge feature", "feature"],
        );
        let merge = git(&dir, &["rev-parse", "HEAD"]);
        push(app, "refs/heads/master", Some(&merge));
        assert_eq!(
            wait_sync(&c, &merge, "refs/heads/master")["git_sync"]["status"],
            "ok"
        );
        let commit = commit_of(&c, "group/repo/a/b", &merge);
        assert_eq!(commit["branch"], "master");
        assert!(commit["message"]
            .as_str()
            .unwrap()
            .starts_with("Merge feature"));
        // The feature branch's commit, unknown to the database, is filled in
        // from the mirror with the preferred branch containing it.
        let feature = git(&dir, &["rev-parse", "feature"]);
        let r = c.post(
            "/api/v1/commit/",
            &json!({"project": "group/repo/a", "commit_sha": feature}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let commit = commit_of(&c, "group/repo/a", &feature);
        assert_eq!(commit["message"], "Feature\n");
        assert_eq!(commit["branch"], "master");
    }
}

#[test]
fn concurrent_webhooks_clone_once_and_write_once() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = tmp.path().join("remote");
    let (first, _) = make_repo(&remote);
    for (i, db) in backends().into_iter().enumerate() {
        let data = tmp.path().join(format!("data{i}"));
        let server = serve(db, &remote, &data, None);
        let (app, c) = (&server.app, Client::new(&server.app));
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    let body = gitlab_event("refs/heads/master", Some(&first)).to_string();
                    let (status, answer) = post_hook(app, "/webhook/gitlab", &[], body.as_bytes());
                    assert_eq!(status, 200, "{answer}");
                });
            }
        });
        let root = wait_sync(&c, &first, "refs/heads/master");
        assert_eq!(root["git_sync"]["status"], "ok", "{root}");
        // Let the other background syncs finish: each ends with a write of
        // git_sync; a last, sequential push is answered after them.
        push_and_wait_quiet(app, &c, &first);
        for id in ["group/repo", "group/repo/a", "group/repo/a/b"] {
            let n = count(
                app,
                &format!("SELECT count(*) AS n FROM ci_commits WHERE project_id = '{id}'"),
            );
            assert_eq!(n, 1, "{id}");
        }
        assert_eq!(count(app, "SELECT count(*) AS n FROM projects"), 3);
        // One mirror, no staging left-overs, and it is sound.
        let mirror = server.git_dir.join(REPO);
        assert_eq!(
            git(&mirror, &["rev-parse", "refs/heads/master"]),
            git(&remote.join(REPO), &["rev-parse", "master"])
        );
        git(&mirror, &["fsck", "--no-progress"]);
        let entries: Vec<String> = std::fs::read_dir(server.git_dir.join("group"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(entries, vec!["repo".to_string()]);
    }
}

/// Waits until the root project's data stops changing for a while
/// (concurrent background syncs done), bounded.
fn push_and_wait_quiet(app: &TestApp, c: &Client, sha: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Value::Null;
    let mut stable = 0;
    while stable < 10 {
        let data = wait_sync(c, sha, "refs/heads/master");
        if data == last {
            stable += 1;
        } else {
            stable = 0;
            last = data;
        }
        assert!(Instant::now() < deadline, "git_sync keeps changing");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = app;
}

#[test]
fn github_push_events_take_the_same_path() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, db) in backends().into_iter().enumerate() {
        let remote = tmp.path().join(format!("remote{i}"));
        let (first, _) = make_repo(&remote);
        let server = serve(db, &remote, &tmp.path().join(format!("data{i}")), None);
        let (app, c) = (&server.app, Client::new(&server.app));
        let (status, _) = post_hook(app, "/webhook/github", &[("X-GitHub-Event", "ping")], b"{}");
        assert_eq!(status, 200);
        let body = json!({
            "ref": "refs/heads/master",
            "after": first,
            "deleted": false,
            "repository": {"full_name": REPO, "name": "repo", "html_url": "https://github.com/group/repo"},
        })
        .to_string();
        let (status, answer) = post_hook(
            app,
            "/webhook/github",
            &[("X-GitHub-Event", "push")],
            body.as_bytes(),
        );
        assert_eq!(status, 200, "{answer}");
        let root = wait_sync(&c, &first, "refs/heads/master");
        assert_eq!(root["git_sync"]["status"], "ok", "{root}");
        assert_eq!(root["git"]["web_url"], "https://github.com/group/repo");
        let a = get_json(
            &c,
            &format!("/api/v1/project?project={}", encode("group/repo/a")),
        );
        assert_eq!(a["qatools_config"]["project"]["name"], "group/repo/a");
    }
}

#[test]
fn a_failed_clone_is_reported_in_git_sync() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, db) in backends().into_iter().enumerate() {
        // No repository at the remote: the clone fails.
        let server = serve(
            db,
            &tmp.path().join("nothing"),
            &tmp.path().join(format!("d{i}")),
            None,
        );
        let (app, c) = (&server.app, Client::new(&server.app));
        let sha = "b".repeat(40);
        let body = gitlab_event("refs/heads/master", Some(&sha)).to_string();
        let (status, _) = post_hook(app, "/webhook/gitlab", &[], body.as_bytes());
        assert_eq!(status, 200);
        let root = wait_sync(&c, &sha, "refs/heads/master");
        assert_eq!(root["git_sync"]["status"], "error", "{root}");
        assert!(root["git_sync"]["error"]
            .as_str()
            .unwrap()
            .contains("mirror sync failed"));
        assert_eq!(count(app, "SELECT count(*) AS n FROM ci_commits"), 0);
    }
}

/// The milestone rule also asks the project's mirror (OPERATIONS.md §1.3):
/// a commit recorded on `master` becomes protected once the mirror's
/// `release` branch (named in `project.milestones`) points at it, although
/// the database records no commit of that branch.
#[test]
fn mirror_branch_heads_protect_milestones() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, db) in backends().into_iter().enumerate() {
        let remote = tmp.path().join(format!("remote{i}"));
        let dir = remote.join(REPO);
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q", "-b", "master"]);
        write(
            &dir,
            "qaboard.yaml",
            "project:\n  reference_branch: master\n  milestones: [release]\n",
        );
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-q", "-m", "First"]);
        let first = git(&dir, &["rev-parse", "HEAD"]);
        write(&dir, "x.txt", "x\n");
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-q", "-m", "Second"]);
        let second = git(&dir, &["rev-parse", "HEAD"]);

        let data = tmp.path().join(format!("data{i}"));
        let server = serve(db, &remote, &data, Some(SECRET));
        let (app, c) = (&server.app, Client::new(&server.app));
        push(app, "refs/heads/master", Some(&first));
        wait_sync(&c, &first, "refs/heads/master");
        push(app, "refs/heads/master", Some(&second));
        wait_sync(&c, &second, "refs/heads/master");

        let delete = format!("/api/v1/commit/{REPO}/{first}/batches/");
        // Not the head of master any more, and no release branch yet.
        let r = c.request("DELETE", &delete, None);
        assert_ne!(r.status, 403, "{}", r.body);

        git(&dir, &["branch", "release", &first]);
        push(app, "refs/heads/release", Some(&first));
        wait_sync(&c, &first, "refs/heads/release");
        assert_eq!(commit_of(&c, REPO, &first)["branch"], "master");
        let r = c.request("DELETE", &delete, None);
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.body.contains("milestone"), "{}", r.body);
    }
}
