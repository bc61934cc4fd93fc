#!/usr/bin/env python3
"""Time from a GitLab push webhook to its sub-projects visible (issue 12).

Builds a repository with 20 sub-projects among 5,000 files, serves it as
GITLAB_HOST=file://..., starts a fresh release `qaboard-server` per run (a
fresh SQLite file, or a fresh PostgreSQL database when DATABASE_URL_BASE is
set, e.g. `postgres://u@127.0.0.1:5432`), posts the push event and polls
the API (every 5 ms) until the root project's `data.git_sync` is `ok` and
all 21 (sub-)projects are listed by `/api/v1/projects`.

Cases: `clone` (first push: the mirror is cloned), `fetch` (push of a new
commit to an existing mirror), `redelivery` (the same push again: no fetch).
Nothing is asserted; results are printed as a Markdown table.

usage: bench/webhook.py [runs] (SERVER_BIN, WORK, DATABASE_URL_BASE)
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
BIN = os.environ.get("SERVER_BIN", "target/release/qaboard-server")
WORK = os.environ.get("WORK", "/tmp/qaboard-webhook-bench")
PG = os.environ.get("DATABASE_URL_BASE")
REPO = "bench/repo"
SUBPROJECTS = 20
FILES = 5000
ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True,
                          capture_output=True, text=True).stdout.strip()


def make_repo(remote):
    repo = os.path.join(remote, REPO)
    os.makedirs(repo)
    git(repo, "init", "-q", "-b", "master")
    with open(os.path.join(repo, "qaboard.yaml"), "w") as f:
        f.write("project:\n  reference_branch: master\noutputs:\n  metrics: metrics.yaml\n")
    with open(os.path.join(repo, "metrics.yaml"), "w") as f:
        f.write("available_metrics:\n  psnr:\n    label: PSNR\n")
    per_dir = (FILES - 2) // SUBPROJECTS - 1
    for i in range(SUBPROJECTS):
        d = os.path.join(repo, f"group{i % 4}", f"sub{i:02d}")
        os.makedirs(d)
        with open(os.path.join(d, "qaboard.yaml"), "w") as f:
            f.write(f"inputs:\n  database: /data/sub{i}\nindex: {i}\n")
        for j in range(per_dir):
            with open(os.path.join(d, f"file{j:04d}.c"), "w") as f:
                f.write(f"int f{i}_{j}(void) {{ return {j}; }}\n")
    # Top up to exactly FILES files.
    extra = FILES - 2 - SUBPROJECTS * (per_dir + 1)
    os.makedirs(os.path.join(repo, "docs"))
    for j in range(extra):
        with open(os.path.join(repo, "docs", f"page{j:03d}.md"), "w") as f:
            f.write(f"# page {j}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "bench")
    return repo


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=60) as r:
        return json.loads(r.read())


def post_hook(base, sha):
    body = json.dumps({"object_kind": "push", "ref": "refs/heads/master", "checkout_sha": sha,
                       "project": {"path_with_namespace": REPO, "name": "repo"}}).encode()
    req = urllib.request.Request(base + "/webhook/gitlab", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 200


def wait_visible(base, sha, since):
    """Seconds from `since` until git_sync is ok for `sha` and every project is listed."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            sync = get(base, "/api/v1/project?project=bench%2Frepo").get("git_sync", {})
        except Exception:
            sync = {}
        if sync.get("sha") == sha and sync.get("status") == "error":
            raise SystemExit(f"sync failed: {sync}")
        if sync.get("sha") == sha and sync.get("status") == "ok":
            projects = get(base, "/api/v1/projects")
            ids = projects.keys() if isinstance(projects, dict) else [p["id"] for p in projects]
            if sum(1 for p in ids if p == REPO or p.startswith(REPO + "/")) == SUBPROJECTS + 1:
                return time.monotonic() - since
        time.sleep(0.005)
    raise SystemExit("timeout")


def start_server(data, db_url, remote):
    env = {**os.environ, "QABOARD_LISTEN": "127.0.0.1:0", "QABOARD_DATA_DIR": data,
           "QABOARD_DATABASE_URL": db_url, "GITLAB_HOST": f"file://{remote}",
           "RUST_LOG": "warn"}
    proc = subprocess.Popen([BIN], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    line = proc.stdout.readline()
    return proc, line.strip().rsplit(" ", 1)[-1]


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    remote = os.path.join(WORK, "remote")
    repo = make_repo(remote)
    files = len(git(repo, "ls-files").splitlines())
    print(f"repository: {files} files, {SUBPROJECTS} sub-projects; backend: {'postgres' if PG else 'sqlite'}")
    results = {"answer (clone)": [], "clone": [], "fetch": [], "redelivery": []}
    for run in range(RUNS):
        data = os.path.join(WORK, f"data{run}")
        os.makedirs(data)
        if PG:
            name = f"webhook_bench_{os.getpid()}_{run}"
            subprocess.run(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
            db_url = f"{PG}/{name}"
        else:
            db_url = f"sqlite://{data}/qaboard.db"
        proc, base = start_server(data, db_url, remote)
        try:
            sha = git(repo, "rev-parse", "HEAD")
            t0 = time.monotonic()
            post_hook(base, sha)
            results["answer (clone)"].append(time.monotonic() - t0)
            results["clone"].append(wait_visible(base, sha, t0))
            # A new commit: the mirror fetches it.
            with open(os.path.join(repo, "group0", "sub00", "file0000.c"), "a") as f:
                f.write(f"// run {run}\n")
            git(repo, "commit", "-q", "-am", f"change {run}")
            sha = git(repo, "rev-parse", "HEAD")
            t0 = time.monotonic()
            post_hook(base, sha)
            results["fetch"].append(wait_visible(base, sha, t0))
            # The same push again: no fetch, rows exist.
            time.sleep(0.2)
            t0 = time.monotonic()
            post_hook(base, sha)
            # git_sync goes back to pending and then ok again.
            results["redelivery"].append(wait_visible(base, sha, t0))
        finally:
            proc.terminate()
            proc.wait()
            if PG:
                subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE {name}"])
    print(f"\n{RUNS} runs, seconds (median / min / max)\n")
    print("| case | median | min | max |\n|---|---|---|---|")
    for case, xs in results.items():
        print(f"| {case} | {statistics.median(xs):.3f} | {min(xs):.3f} | {max(xs):.3f} |")


if __name__ == "__main__":
    main()
