//! Mirrors, push plans and refs on repositories the tests create, cloned
//! over `file://` (and a local TCP server for credentials and time limits).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use qaboard_git::{plan_push, plan_subprojects, GitError, Mirrors, Repo};
use serde_json::json;
use tempfile::TempDir;

use crate::support::{git, AUTHOR_DATE};

fn write(root: &Path, path: &str, content: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A forge folder holding `group/repo` (a non-bare repository served over
/// `file://`), and an empty git_dir for mirrors.
struct Forge {
    _tmp: TempDir,
    host: String,
    work: PathBuf,
    git_dir: PathBuf,
}

const REPO: &str = "group/repo";

impl Forge {
    fn new() -> Forge {
        let tmp = TempDir::new().unwrap();
        let forge = tmp.path().join("forge");
        let work = forge.join(REPO);
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-q", "-b", "master"]);
        let git_dir = tmp.path().join("mirrors");
        Forge {
            host: format!("file://{}", forge.display()),
            work,
            git_dir,
            _tmp: tmp,
        }
    }

    fn commit(&self, message: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(
            &self.work,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        git(&self.work, &["rev-parse", "HEAD"])
    }

    fn mirrors(&self) -> Mirrors {
        Mirrors::new(&self.git_dir, &self.host)
    }
}

#[test]
fn plan_nested_subprojects_broken_yaml_root_true_and_metrics() {
    let forge = Forge::new();
    let w = &forge.work;
    write(w, "qaboard.yaml", "project:\n  name: group/repo\n  reference_branch: develop\nouter: 1\noutputs:\n  metrics: metrics.yaml\n");
    write(w, "qatools.yaml", "ignored: because qaboard.yaml wins\n");
    write(
        w,
        "metrics.yaml",
        "available_metrics:\n  loss: {label: Loss}\n",
    );
    write(
        w,
        "algo/qaboard.yaml",
        "inner: 2\noutputs: {metrics: algo/metrics.json}\n",
    );
    write(
        w,
        "algo/metrics.json",
        r#"{"available_metrics": {"psnr": {"label": "PSNR"}}}"#,
    );
    write(w, "algo/deep/sub/qatools.yaml", "");
    write(w, "broken/qaboard.yaml", "a: [1, 2\n");
    write(w, "broken/child/qaboard.yaml", "x: 1\n");
    write(w, "island/qaboard.yaml", "root: true\nisland: yes\n");
    write(w, "island/leaf/qaboard.yaml", "leaf: true\n");
    write(w, "docs/not-qaboard.yaml", "x: 1\n");
    write(w, "docs/qaboard.yaml.orig", "x: 1\n");
    let sha = forge.commit("configs");

    let synced = forge.mirrors().sync(REPO, None).unwrap();
    assert!(synced.cloned);
    let plans = plan_subprojects(&synced.repo, &sha, REPO).unwrap();
    let ids: Vec<&str> = plans.iter().map(|p| p.project_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "group/repo",
            "group/repo/algo",
            "group/repo/algo/deep/sub",
            "group/repo/broken",
            "group/repo/broken/child",
            "group/repo/island",
            "group/repo/island/leaf",
        ]
    );
    let by_id = |id: &str| plans.iter().find(|p| p.project_id == id).unwrap();

    let root = by_id("group/repo");
    assert_eq!(root.config_path, "qaboard.yaml");
    let config = root.qatools_config.as_ref().unwrap();
    assert_eq!(config["project"]["name"], "group/repo");
    assert!(config.get("ignored").is_none());
    assert_eq!(
        root.qatools_metrics,
        Some(json!({"available_metrics": {"loss": {"label": "Loss"}}}))
    );
    assert_eq!(root.reference_branch(), Some("develop"));
    assert!(root.updates_project(false, Some("feature")));
    assert!(root.updates_project(true, Some("develop")));
    assert!(!root.updates_project(true, Some("master")));
    assert!(!root.updates_project(true, None));

    let deep = by_id("group/repo/algo/deep/sub");
    assert_eq!(
        deep.qatools_config,
        Some(json!({
            "project": {"name": "group/repo/algo/deep/sub", "reference_branch": "develop"},
            "outer": 1, "inner": 2, "outputs": {"metrics": "algo/metrics.json"}
        }))
    );
    assert_eq!(
        deep.qatools_metrics,
        Some(json!({"available_metrics": {"psnr": {"label": "PSNR"}}}))
    );
    assert!(deep.errors.is_empty());

    for id in ["group/repo/broken", "group/repo/broken/child"] {
        let plan = by_id(id);
        assert!(plan.qatools_config.is_none(), "{id}");
        assert!(
            plan.errors[0].starts_with("broken/qaboard.yaml:"),
            "{:?}",
            plan.errors
        );
        assert!(!plan.updates_project(false, Some("develop")));
    }

    let leaf = by_id("group/repo/island/leaf");
    assert_eq!(
        leaf.qatools_config,
        Some(
            json!({"root": true, "island": true, "leaf": true, "project": {"name": "group/repo/island/leaf"}})
        )
    );
    assert_eq!(leaf.reference_branch(), Some("master"));
    assert_eq!(leaf.qatools_metrics, None);

    // A missing or broken metrics file is an error entry, not a failure.
    write(w, "metrics.yaml", "a: [\n");
    let sha2 = forge.commit("break metrics");
    let repo = forge.mirrors().sync(REPO, None).unwrap().repo;
    let plans = plan_subprojects(&repo, &sha2, REPO).unwrap();
    assert_eq!(plans.len(), 7);
    assert!(plans[0].qatools_config.is_some());
    assert!(plans[0].errors[0].starts_with("metrics.yaml:"));
    assert!(matches!(
        plan_subprojects(&repo, "0123456789012345678901234567890123456789", REPO),
        Err(GitError::NotFound { .. })
    ));
}

#[test]
fn commit_metadata_tags_merges_branch_guess_and_names() {
    let forge = Forge::new();
    let w = &forge.work;
    write(w, "a.txt", "1");
    let c1 = forge.commit("first\n\nbody");
    git(w, &["tag", "-a", "v1.0", "-m", "release 1.0"]);
    git(w, &["tag", "light"]);
    git(w, &["checkout", "-q", "-b", "develop"]);
    write(w, "b.txt", "2");
    let c2 = forge.commit("on develop");
    git(w, &["checkout", "-q", "master"]);
    write(w, "c.txt", "3");
    let c3 = forge.commit("on master");
    git(
        w,
        &["merge", "-q", "--no-ff", "-m", "merge develop", "develop"],
    );
    let merge = git(w, &["rev-parse", "HEAD"]);
    git(w, &["checkout", "-q", "-b", "feature", &c2]);
    write(w, "d.txt", "4");
    let c4 = forge.commit("feature work");
    git(w, &["checkout", "-q", "master"]);

    let repo = forge.mirrors().sync(REPO, None).unwrap().repo;

    let info = repo.commit(&merge).unwrap();
    assert_eq!(info.parents, vec![c3.clone(), c2.clone()]);
    assert_eq!(info.committer_name, "Carl Committer");
    assert_eq!(info.message.trim(), "merge develop");
    assert_eq!(
        info.authored_datetime.to_rfc3339(),
        chrono::DateTime::parse_from_rfc3339(AUTHOR_DATE)
            .unwrap()
            .to_rfc3339()
    );
    assert!(repo.has_commit(&c1));
    assert!(!repo.has_commit("not-a-sha"));
    assert!(!repo.has_commit("0123456789012345678901234567890123456789"));

    assert_eq!(repo.tags_at(&c1).unwrap(), vec!["light", "v1.0"]);
    assert!(repo.tags_at(&c2).unwrap().is_empty());
    assert_eq!(
        repo.branch_heads().unwrap(),
        vec![
            ("origin/develop".to_string(), c2.clone()),
            ("origin/feature".to_string(), c4.clone()),
            ("origin/master".to_string(), merge.clone()),
        ]
    );
    assert_eq!(
        repo.branches_containing(&c2).unwrap(),
        vec!["origin/develop", "origin/feature", "origin/master"]
    );
    assert_eq!(repo.guess_branch(&c2).unwrap(), "origin/master");
    assert_eq!(repo.guess_branch(&c4).unwrap(), "origin/feature");
    assert_eq!(repo.guess_branch(&c3).unwrap(), "origin/master");
    assert_eq!(
        repo.guess_branch("0123456789012345678901234567890123456789")
            .unwrap(),
        "unknown"
    );

    assert_eq!(repo.resolve_name("v1.0").unwrap(), c1);
    assert_eq!(repo.resolve_name("light").unwrap(), c1);
    assert_eq!(repo.resolve_name("develop").unwrap(), c2);
    assert_eq!(repo.resolve_name("feature").unwrap(), c4);
    for bad in ["nope", "", "-x", "..", "a..b", "refs/../x", &c1[..8]] {
        assert!(
            matches!(repo.resolve_name(bad), Err(GitError::NotFound { .. })),
            "{bad}"
        );
    }

    // Push plans: a branch push takes the branch from the event, a tag push
    // guesses it; both list the tags at the commit.
    let push = |r: &str, sha: &str| {
        qaboard_model::webhook::parse_gitlab_push(
            &serde_json::to_vec(&json!({"ref": r, "checkout_sha": sha,
                "project": {"path_with_namespace": REPO, "web_url": "http://forge/group/repo"}}))
            .unwrap(),
        )
        .unwrap()
    };
    let plan = plan_push(&repo, &push("refs/heads/feature", &c1))
        .unwrap()
        .unwrap();
    assert_eq!(plan.branch, "feature");
    assert_eq!(plan.pushed_branch.as_deref(), Some("feature"));
    assert_eq!(plan.tags, vec!["light", "v1.0"]);
    assert_eq!(plan.git["web_url"], "http://forge/group/repo");
    assert_eq!(plan.commit.hexsha, c1);
    assert!(plan.subprojects.is_empty());
    let plan = plan_push(&repo, &push("refs/tags/v1.0", &c1))
        .unwrap()
        .unwrap();
    assert_eq!(plan.branch, "origin/master");
    assert_eq!(plan.pushed_branch, None);
    assert!(matches!(
        plan_push(
            &repo,
            &push("refs/heads/x", "0123456789012345678901234567890123456789")
        ),
        Err(GitError::NotFound { .. })
    ));

    // A branch deletion upstream (GitLab sends checkout_sha null: nothing to
    // plan) disappears from the mirror at the next sync.
    let event = qaboard_model::webhook::parse_gitlab_push(
        &serde_json::to_vec(&json!({"ref": "refs/heads/feature", "checkout_sha": null,
            "project": {"path_with_namespace": REPO}}))
        .unwrap(),
    )
    .unwrap();
    assert!(event.is_deletion());
    assert_eq!(plan_push(&repo, &event).unwrap(), None);
    git(w, &["branch", "-q", "-D", "feature"]);
    let synced = forge.mirrors().sync(REPO, None).unwrap();
    assert!(!synced.cloned);
    assert_eq!(synced.repo.branch_heads().unwrap().len(), 2);
    assert_eq!(synced.repo.guess_branch(&c4).unwrap(), "unknown");
}

#[test]
fn mirror_paths_fetch_and_ensure_commit() {
    let forge = Forge::new();
    let mirrors = forge.mirrors();
    for bad in ["../x", "/abs", "a//b", "a/../b", ""] {
        assert!(matches!(
            mirrors.sync(bad, None),
            Err(GitError::InvalidRepoPath(_))
        ));
    }
    assert_eq!(mirrors.url(REPO).unwrap(), format!("{}/{REPO}", forge.host));
    assert!(mirrors.open(REPO).unwrap().is_none());
    assert!(matches!(
        mirrors.sync("group/missing", None),
        Err(GitError::Command { .. })
    ));
    // A failed clone leaves nothing behind.
    let group = forge.git_dir.join("group");
    let left: Vec<_> = std::fs::read_dir(&group)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "{left:?}");

    write(&forge.work, "a.txt", "1");
    let c1 = forge.commit("one");
    let repo = mirrors.ensure_commit(REPO, &c1, None).unwrap();
    assert!(repo.has_commit(&c1));
    write(&forge.work, "a.txt", "2");
    let c2 = forge.commit("two");
    // The mirror does not know c2 yet: ensure_commit fetches.
    assert!(!mirrors.open(REPO).unwrap().unwrap().has_commit(&c2));
    let repo = mirrors.ensure_commit(REPO, &c2, None).unwrap();
    assert!(repo.has_commit(&c2));
    assert_eq!(repo.resolve("origin/master").unwrap(), c2);
    assert!(forge.git_dir.join(".locks/group/repo.lock").exists());

    // A push the mirror already has needs no fetch; a new one does.
    let synced = mirrors
        .sync_push(REPO, "refs/heads/master", &c2, None)
        .unwrap();
    assert!(!synced.fetched && !synced.cloned);
    git(&forge.work, &["tag", "-a", "t1", "-m", "tag"]);
    let synced = mirrors.sync_push(REPO, "refs/tags/t1", &c2, None).unwrap();
    assert!(synced.fetched);
    assert_eq!(
        synced.repo.ref_target("refs/tags/t1").as_deref(),
        Some(c2.as_str())
    );
    assert!(
        !mirrors
            .sync_push(REPO, "refs/tags/t1", &c2, None)
            .unwrap()
            .fetched
    );
    assert_eq!(synced.repo.ref_target("refs/tags/nope"), None);
    assert_eq!(synced.repo.ref_target("not a ref"), None);
}

#[test]
fn concurrent_syncs_clone_once() {
    let forge = Forge::new();
    write(&forge.work, "a.txt", "1");
    let sha = forge.commit("one");
    let mirrors = Arc::new(forge.mirrors());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let mirrors = Arc::clone(&mirrors);
            std::thread::spawn(move || mirrors.sync(REPO, None).unwrap().cloned)
        })
        .collect();
    let cloned = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|c| *c)
        .count();
    assert_eq!(cloned, 1);
    let repo = mirrors.open(REPO).unwrap().unwrap();
    assert!(repo.has_commit(&sha));
    let fsck = Command::new("git")
        .args(["--git-dir"])
        .arg(repo.git_dir())
        .args(["fsck", "--no-progress"])
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
    let names: Vec<String> = std::fs::read_dir(forge.git_dir.join("group"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["repo"]);
}

/// Run in child processes by `concurrent_processes_clone_once`: three
/// threads sync the mirror named by the environment, printing `CLONED=true`
/// for a clone.
#[test]
#[ignore = "run by concurrent_processes_clone_once"]
fn child_process_sync() {
    let (Ok(git_dir), Ok(host)) = (
        std::env::var("QABOARD_GIT_TEST_GIT_DIR"),
        std::env::var("QABOARD_GIT_TEST_HOST"),
    ) else {
        return;
    };
    let mirrors = Arc::new(Mirrors::new(git_dir, host));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let mirrors = Arc::clone(&mirrors);
            std::thread::spawn(move || mirrors.sync(REPO, None).unwrap().cloned)
        })
        .collect();
    for handle in handles {
        println!("CLONED={}", handle.join().unwrap());
    }
}

#[test]
fn concurrent_processes_clone_once() {
    let forge = Forge::new();
    write(&forge.work, "a.txt", "1");
    let sha = forge.commit("one");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "mirror::child_process_sync",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("QABOARD_GIT_TEST_GIT_DIR", &forge.git_dir)
                .env("QABOARD_GIT_TEST_HOST", &forge.host)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut clones = 0;
    let mut syncs = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        clones += stdout.matches("CLONED=true").count();
        syncs += stdout.matches("CLONED=").count();
    }
    assert_eq!((syncs, clones), (12, 1));
    let repo = forge.mirrors().open(REPO).unwrap().unwrap();
    assert!(repo.has_commit(&sha));
    let fsck = Command::new("git")
        .arg("--git-dir")
        .arg(repo.git_dir())
        .args(["fsck", "--no-progress"])
        .output()
        .unwrap();
    assert!(fsck.status.success());
}

/// A local HTTP server that records the first request's head and never
/// answers: git waits until the time limit kills it.
#[test]
fn token_is_sent_per_call_never_stored_and_fetch_is_bounded() {
    let forge = Forge::new();
    write(&forge.work, "a.txt", "1");
    forge.commit("one");
    let token = "glpat-SECRET-token-42";
    let mirrors = forge.mirrors();
    mirrors.sync(REPO, Some(token)).unwrap();
    let mirror = forge.git_dir.join(REPO);
    let config = std::fs::read_to_string(mirror.join("config")).unwrap();
    assert!(!config.contains(token), "{config}");
    assert!(config.contains("file://"));

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let _ = stream.flush();
        // Keep the connection open (and silent) until git is killed.
        let _ = stream.read(&mut buf);
        String::from_utf8_lossy(&head).into_owned()
    });
    let mut http = Mirrors::new(
        forge.git_dir.join("http"),
        format!("http://127.0.0.1:{port}"),
    );
    http.clone_timeout = Duration::from_secs(2);
    let err = http.sync(REPO, Some(token)).unwrap_err();
    assert!(matches!(err, GitError::Timeout { .. }), "{err:?}");
    assert!(!err.to_string().contains(token));
    let head = server.join().unwrap();
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("oauth2:{token}"));
    assert!(
        head.contains(&format!("Authorization: Basic {basic}")),
        "{head}"
    );
    assert!(!forge.git_dir.join("http").join(REPO).exists());
}

#[test]
fn repo_open_of_a_mirror_path_is_bare() {
    let forge = Forge::new();
    forge.commit("empty");
    let synced = forge.mirrors().sync(REPO, None).unwrap();
    let again = Repo::open(forge.git_dir.join(REPO)).unwrap();
    assert_eq!(again.git_dir(), synced.repo.git_dir());
}
