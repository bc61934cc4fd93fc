//! Integration tests on real repositories created with the `git` command line.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::DateTime;
use qaboard_git::{GitError, Repo};
use tempfile::TempDir;

use crate::support::{git, git_with_input, AUTHOR_DATE, COMMITTER_DATE};

fn write(root: &Path, path: &str, content: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, content).expect("write file");
}

/// The upstream repository used by most tests.
///
/// History:
/// ```text
/// c1 (tag v1.0, annotated) -- c2 (tag light) -- merge (master)
///                               \               /
///                                c3 (feature) --
/// ```
struct Fixture {
    _tmp: TempDir,
    root: PathBuf,
    upstream: PathBuf,
    c1: String,
    c2: String,
    c3: String,
    merge: String,
    annotated_tag_object: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().to_path_buf();
    let upstream = root.join("upstream");
    std::fs::create_dir(&upstream).expect("mkdir upstream");
    git(&upstream, &["init", "-q", "-b", "master"]);

    write(&upstream, "README.md", "# Project\n");
    write(&upstream, "qaboard.yaml", "project:\n  name: root\n");
    write(
        &upstream,
        "sub/project/qaboard.yaml",
        "project:\n  name: sub\n",
    );
    write(&upstream, "sub/deep/nested/file.txt", "deep content\n");
    write(&upstream, "to_delete.txt", "bye\n");
    git(&upstream, &["add", "-A"]);
    git(&upstream, &["commit", "-q", "-m", "Initial commit"]);
    let c1 = git(&upstream, &["rev-parse", "HEAD"]);
    git(&upstream, &["tag", "-a", "v1.0", "-m", "Release 1.0"]);
    let annotated_tag_object = git(&upstream, &["rev-parse", "v1.0"]);

    write(&upstream, "README.md", "# Project\n\nVersion 2\n");
    git(
        &upstream,
        &[
            "commit",
            "-q",
            "-a",
            "-m",
            "Second commit\n\nWith a body.\n",
        ],
    );
    let c2 = git(&upstream, &["rev-parse", "HEAD"]);
    git(&upstream, &["tag", "light"]);

    git(&upstream, &["checkout", "-q", "-b", "feature"]);
    write(&upstream, "feature.txt", "feature\n");
    git(&upstream, &["rm", "-q", "to_delete.txt"]);
    git(&upstream, &["add", "-A"]);
    git(&upstream, &["commit", "-q", "-m", "Feature work"]);
    let c3 = git(&upstream, &["rev-parse", "HEAD"]);

    git(&upstream, &["checkout", "-q", "master"]);
    git(
        &upstream,
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "Merge branch 'feature'",
            "feature",
        ],
    );
    let merge = git(&upstream, &["rev-parse", "HEAD"]);

    Fixture {
        _tmp: tmp,
        root,
        upstream,
        c1,
        c2,
        c3,
        merge,
        annotated_tag_object,
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, GitError>, rev: &str) {
    match result {
        Err(GitError::NotFound { rev: got }) => assert_eq!(got, rev),
        other => {
            let other = format!("{other:?}");
            let short = |s: &str| s.chars().take(200).collect::<String>();
            panic!(
                "expected NotFound for {:?}, got {}",
                short(rev),
                short(&other)
            )
        }
    }
}

#[test]
fn repo_is_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Repo>();
}

#[test]
fn shared_between_threads() {
    let f = fixture();
    let repo = std::sync::Arc::new(Repo::open(&f.upstream).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let repo = std::sync::Arc::clone(&repo);
            std::thread::spawn(move || {
                (
                    repo.resolve("feature").unwrap(),
                    repo.commit("v1.0").unwrap().hexsha,
                )
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), (f.c3.clone(), f.c1.clone()));
    }
}

#[test]
fn resolve_revisions() {
    let f = fixture();
    let repo = Repo::open(&f.upstream).expect("open non-bare repo");

    assert_eq!(repo.resolve(&f.c1).unwrap(), f.c1);
    assert_eq!(repo.resolve(&f.c1[..7]).unwrap(), f.c1);
    assert_eq!(repo.resolve(&f.c2[..12].to_uppercase()).unwrap(), f.c2);
    assert_eq!(repo.resolve("master").unwrap(), f.merge);
    assert_eq!(repo.resolve("HEAD").unwrap(), f.merge);
    assert_eq!(repo.resolve("refs/heads/master").unwrap(), f.merge);
    assert_eq!(repo.resolve("feature").unwrap(), f.c3);
    assert_eq!(repo.resolve("master~1").unwrap(), f.c2);
    assert_eq!(repo.resolve("master^2").unwrap(), f.c3);
    // Annotated tags are peeled to their commit.
    assert_ne!(f.annotated_tag_object, f.c1);
    assert_eq!(repo.resolve("v1.0").unwrap(), f.c1);
    assert_eq!(repo.resolve("refs/tags/v1.0").unwrap(), f.c1);
    assert_eq!(repo.resolve(&f.annotated_tag_object).unwrap(), f.c1);
    // Lightweight tag.
    assert_eq!(repo.resolve("light").unwrap(), f.c2);
    assert!(repo.git_dir().ends_with(".git"));
}

#[test]
fn commit_metadata() {
    let f = fixture();
    let repo = Repo::open(f.upstream.join(".git")).expect("open .git dir");

    let c1 = repo.commit("v1.0").unwrap();
    assert_eq!(c1.hexsha, f.c1);
    assert_eq!(c1.message, "Initial commit\n");
    assert_eq!(c1.author_name, "Alice Author");
    assert_eq!(c1.author_email, "alice@example.com");
    assert_eq!(c1.committer_name, "Carl Committer");
    assert_eq!(c1.committer_email, "carl@example.com");
    let authored = DateTime::parse_from_rfc3339(AUTHOR_DATE).unwrap();
    assert_eq!(c1.authored_datetime, authored);
    assert_eq!(c1.authored_datetime.offset().local_minus_utc(), 2 * 3600);
    assert_eq!(c1.authored_datetime.to_rfc3339(), AUTHOR_DATE);
    assert_eq!(c1.committed_datetime.to_rfc3339(), COMMITTER_DATE);
    assert!(c1.parents.is_empty());

    let c2 = repo.commit(&f.c2[..8]).unwrap();
    assert_eq!(c2.hexsha, f.c2);
    assert_eq!(c2.message, "Second commit\n\nWith a body.\n");
    assert_eq!(c2.parents, vec![f.c1.clone()]);

    let merge = repo.commit("master").unwrap();
    assert_eq!(merge.message, "Merge branch 'feature'\n");
    assert_eq!(merge.parents, vec![f.c2.clone(), f.c3.clone()]);
}

#[test]
fn read_files_at_commits() {
    let f = fixture();
    let repo = Repo::open(&f.upstream).unwrap();

    assert_eq!(
        repo.read_file("v1.0", "README.md").unwrap().as_deref(),
        Some(&b"# Project\n"[..])
    );
    assert_eq!(
        repo.read_file("master", "README.md").unwrap().as_deref(),
        Some(&b"# Project\n\nVersion 2\n"[..])
    );
    assert_eq!(
        repo.read_file(&f.c1, "sub/project/qaboard.yaml")
            .unwrap()
            .as_deref(),
        Some(&b"project:\n  name: sub\n"[..])
    );
    assert_eq!(
        repo.read_file(&f.c1, "./sub//deep/nested/file.txt")
            .unwrap()
            .as_deref(),
        Some(&b"deep content\n"[..])
    );
    // Deleted on the feature branch, present before.
    assert!(repo.read_file("light", "to_delete.txt").unwrap().is_some());
    assert_eq!(repo.read_file("feature", "to_delete.txt").unwrap(), None);
    assert_eq!(
        repo.read_file("feature", "feature.txt").unwrap().as_deref(),
        Some(&b"feature\n"[..])
    );
    assert_eq!(repo.read_file("v1.0", "feature.txt").unwrap(), None);
    // Missing, directories and odd paths.
    for path in [
        "missing.txt",
        "sub/missing/qaboard.yaml",
        "sub",
        "sub/project",
        "",
        "/",
        ".",
        "../upstream/README.md",
        "sub/../README.md",
        "README.md/child",
    ] {
        assert_eq!(repo.read_file("master", path).unwrap(), None, "{path:?}");
    }
    assert_not_found(
        repo.read_file("no-such-branch", "README.md"),
        "no-such-branch",
    );
}

#[test]
fn list_files_recursively() {
    let f = fixture();
    let repo = Repo::open(&f.upstream).unwrap();

    assert_eq!(
        repo.list_files("v1.0").unwrap(),
        vec![
            "README.md",
            "qaboard.yaml",
            "sub/deep/nested/file.txt",
            "sub/project/qaboard.yaml",
            "to_delete.txt",
        ]
    );
    assert_eq!(
        repo.list_files("master").unwrap(),
        vec![
            "README.md",
            "feature.txt",
            "qaboard.yaml",
            "sub/deep/nested/file.txt",
            "sub/project/qaboard.yaml",
        ]
    );
    let yamls: Vec<String> = repo
        .list_files("master")
        .unwrap()
        .into_iter()
        .filter(|p| p.ends_with("qaboard.yaml"))
        .collect();
    assert_eq!(yamls, vec!["qaboard.yaml", "sub/project/qaboard.yaml"]);
    assert_not_found(repo.list_files("deadbeef"), "deadbeef");
}

#[test]
fn unknown_and_invalid_revisions() {
    let f = fixture();
    let repo = Repo::open(&f.upstream).unwrap();
    let long = "a".repeat(10_000);
    let tree = git(&f.upstream, &["rev-parse", "HEAD^{tree}"]);
    for rev in [
        "",
        "   ",
        "no-such-branch",
        "origin/master", // no remote in this repository
        "origin/",
        "../etc",
        "../../etc/passwd",
        "/etc/passwd",
        "refs/heads/../../config",
        "master/sub",
        "HEAD/x",
        "refs/heads/master/x",
        "light/x/y",
        "origin/master/x",
        "README.md",
        "sub/project",
        ".git",
        "config",
        "objects",
        "zzzz",
        "not hex at all",
        "deadbeef",
        "0000000000000000000000000000000000000000",
        "master..feature",
        "master...feature",
        "HEAD:README.md",
        "HEAD^{tree}",
        tree.as_str(),
        "master~100",
        "master^3",
        ":/no commit has this message",
        "-h",
        "--all",
        "a\0b",
        "~",
        "^",
        "@{",
        long.as_str(),
    ] {
        assert_not_found(repo.resolve(rev), rev);
        assert_not_found(repo.commit(rev), rev);
        assert_not_found(repo.list_files(rev), rev);
        assert_not_found(repo.read_file(rev, "README.md"), rev);
    }
    let err = repo.resolve("no-such-branch").unwrap_err();
    assert!(err.to_string().contains("no-such-branch"), "{err}");
}

#[test]
fn open_errors() {
    let f = fixture();
    let missing = f.root.join("does-not-exist");
    match Repo::open(&missing) {
        Err(GitError::Open { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected Open error, got {other:?}"),
    }
    let plain = f.root.join("plain");
    std::fs::create_dir(&plain).unwrap();
    let err = Repo::open(&plain).unwrap_err();
    assert!(matches!(err, GitError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("plain"), "{err}");
}

#[test]
fn clone_mirror_and_fetch() {
    let f = fixture();
    let dest = f.root.join("mirror.git");
    let mirror = Repo::clone_mirror(f.upstream.to_str().unwrap(), &dest).expect("clone");
    assert_eq!(mirror.git_dir(), dest.canonicalize().unwrap().as_path());

    assert_eq!(mirror.resolve("master").unwrap(), f.merge);
    assert_eq!(mirror.resolve("origin/master").unwrap(), f.merge);
    assert_eq!(mirror.resolve("origin/feature").unwrap(), f.c3);
    assert_eq!(mirror.resolve("origin/feature~1").unwrap(), f.c2);
    assert_eq!(mirror.resolve("v1.0").unwrap(), f.c1);
    assert_eq!(mirror.resolve("light").unwrap(), f.c2);
    assert_eq!(mirror.commit(&f.c1[..10]).unwrap().hexsha, f.c1);
    assert_eq!(
        mirror.read_file("origin/feature", "feature.txt").unwrap(),
        Some(b"feature\n".to_vec())
    );
    assert_not_found(mirror.resolve("origin/new-branch"), "origin/new-branch");

    // New upstream history: a commit on feature, a new branch, a new tag,
    // and a deleted branch.
    git(&f.upstream, &["branch", "doomed", "light"]);
    mirror.fetch().unwrap();
    assert_eq!(mirror.resolve("origin/doomed").unwrap(), f.c2);

    git(&f.upstream, &["checkout", "-q", "feature"]);
    write(
        &f.upstream,
        "sub/new/qaboard.yaml",
        "project:\n  name: new\n",
    );
    git(&f.upstream, &["add", "-A"]);
    git(&f.upstream, &["commit", "-q", "-m", "More feature work"]);
    let c4 = git(&f.upstream, &["rev-parse", "HEAD"]);
    git(&f.upstream, &["checkout", "-q", "-b", "new-branch"]);
    git(&f.upstream, &["tag", "-a", "v2.0", "-m", "Release 2.0"]);
    git(&f.upstream, &["branch", "-D", "doomed"]);

    // Not visible before fetching.
    assert_eq!(mirror.resolve("origin/feature").unwrap(), f.c3);
    assert_not_found(mirror.commit(&c4), &c4);

    mirror.fetch().unwrap();
    // The same `Repo` instance sees the new refs and objects.
    assert_eq!(mirror.resolve("origin/feature").unwrap(), c4);
    assert_eq!(mirror.resolve("feature").unwrap(), c4);
    assert_eq!(mirror.resolve("origin/new-branch").unwrap(), c4);
    assert_eq!(mirror.resolve("v2.0").unwrap(), c4);
    assert_not_found(mirror.resolve("origin/doomed"), "origin/doomed");
    let info = mirror.commit("origin/feature").unwrap();
    assert_eq!(info.message, "More feature work\n");
    assert_eq!(info.parents, vec![f.c3.clone()]);
    assert_eq!(
        mirror.read_file(&c4, "sub/new/qaboard.yaml").unwrap(),
        Some(b"project:\n  name: new\n".to_vec())
    );
    assert!(mirror
        .list_files("origin/feature")
        .unwrap()
        .contains(&"sub/new/qaboard.yaml".to_string()));

    // A freshly opened handle agrees.
    let reopened = Repo::open(&dest).unwrap();
    assert_eq!(reopened.resolve("origin/feature").unwrap(), c4);
}

#[test]
fn clone_mirror_from_file_url() {
    let f = fixture();
    let url = format!("file://{}", f.upstream.display());
    let mirror = Repo::clone_mirror(&url, f.root.join("mirror-url.git")).expect("clone file://");
    assert_eq!(mirror.resolve("origin/master").unwrap(), f.merge);
    mirror.fetch().unwrap();
}

#[test]
fn regular_clone_uses_remote_tracking_refs() {
    let f = fixture();
    let work = f.root.join("work");
    git(
        &f.root,
        &[
            "clone",
            "-q",
            f.upstream.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    let repo = Repo::open(&work).unwrap();
    assert_eq!(repo.resolve("origin/feature").unwrap(), f.c3);

    git(&f.upstream, &["checkout", "-q", "feature"]);
    write(&f.upstream, "x.txt", "x\n");
    git(&f.upstream, &["add", "-A"]);
    git(&f.upstream, &["commit", "-q", "-m", "x"]);
    let c4 = git(&f.upstream, &["rev-parse", "HEAD"]);

    repo.fetch().unwrap();
    assert_eq!(repo.resolve("origin/feature").unwrap(), c4);
    // The local branch is untouched by a fetch.
    assert_eq!(repo.resolve("master").unwrap(), f.merge);
}

#[test]
fn clone_errors() {
    let f = fixture();
    let missing = f.root.join("no-such-upstream");
    let err = Repo::clone_mirror(missing.to_str().unwrap(), f.root.join("m1.git")).unwrap_err();
    assert!(matches!(err, GitError::Command { .. }), "{err:?}");
    assert!(!f.root.join("m1.git").exists());

    // Option-looking URLs are not interpreted as options.
    let err = Repo::clone_mirror("--upload-pack=touch pwned", f.root.join("m2.git")).unwrap_err();
    assert!(matches!(err, GitError::Command { .. }), "{err:?}");
    assert!(!f.root.join("pwned").exists());

    // Destination not empty.
    let dest = f.root.join("m3.git");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("file"), "x").unwrap();
    let err = Repo::clone_mirror(f.upstream.to_str().unwrap(), &dest).unwrap_err();
    assert!(matches!(err, GitError::Command { .. }), "{err:?}");

    // Fetching without an `origin` remote fails cleanly.
    let repo = Repo::open(&f.upstream).unwrap();
    let err = repo.fetch().unwrap_err();
    assert!(matches!(err, GitError::Command { .. }), "{err:?}");
    assert!(err.to_string().contains("origin"), "{err}");
}

/// Creates many commits (each with its own blob) with `git fast-import`, so
/// that some 4-character sha prefixes are shared by several objects.
#[test]
fn ambiguous_short_shas() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    git(dir, &["init", "-q", "--bare", "-b", "master"]);
    let mut stream = String::new();
    for i in 0..1500 {
        let content = format!("content {i}\n");
        let message = format!("commit {i}\n");
        write!(
            stream,
            "commit refs/heads/master\n\
             committer Carl <carl@example.com> {} +0000\n\
             data {}\n{message}\
             M 100644 inline file.txt\n\
             data {}\n{content}\n",
            1_600_000_000 + i,
            message.len(),
            content.len(),
        )
        .unwrap();
    }
    git_with_input(dir, &["fast-import", "--quiet"], Some(stream.as_bytes()));

    let objects = git(
        dir,
        &[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objectname) %(objecttype)",
        ],
    );
    let mut by_prefix: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for line in objects.lines() {
        let (sha, kind) = line.split_once(' ').unwrap();
        by_prefix.entry(&sha[..4]).or_default().push((sha, kind));
    }
    let commits_of = |objs: &Vec<(&str, &str)>| -> Vec<String> {
        objs.iter()
            .filter(|(_, kind)| *kind == "commit")
            .map(|(sha, _)| sha.to_string())
            .collect()
    };

    let repo = Repo::open(dir).unwrap();

    // A prefix shared by two commits is ambiguous.
    let (prefix, _) = by_prefix
        .iter()
        .find(|(_, objs)| commits_of(objs).len() >= 2)
        .expect("1500 commits share at least one 4-hex prefix");
    match repo.resolve(prefix) {
        Err(GitError::Ambiguous { rev }) => assert_eq!(rev, *prefix),
        other => panic!("expected Ambiguous for {prefix}, got {other:?}"),
    }
    assert!(matches!(
        repo.commit(prefix),
        Err(GitError::Ambiguous { .. })
    ));

    // A prefix shared by exactly one commit and other objects resolves to the
    // commit, like `core.disambiguate=commit`.
    let (prefix, objs) = by_prefix
        .iter()
        .find(|(_, objs)| objs.len() >= 2 && commits_of(objs).len() == 1)
        .expect("some prefix is shared by one commit and a blob/tree");
    assert_eq!(repo.resolve(prefix).unwrap(), commits_of(objs)[0]);

    // A prefix that only matches non-commits is not a commit.
    if let Some((prefix, _)) = by_prefix
        .iter()
        .find(|(_, objs)| objs.len() == 1 && commits_of(objs).is_empty())
    {
        assert_not_found(repo.resolve(prefix), prefix);
    }
}
