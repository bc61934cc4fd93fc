//! GitLab manual jobs and Jenkins builds against fake servers.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use qaboard_outbound::{
    GitlabJobBody, JenkinsCredentials, JenkinsTrigger, OutboundError, Secret,
    MISSING_BUILD_URL_ERROR, MISSING_TOKEN_ERROR,
};
use serde_json::json;

use crate::server::{Reply, Seen, TestServer};
use crate::{client, settings};

fn fake_gitlab(seen: &Seen) -> Reply {
    if seen.headers.get("private-token").map(String::as_str) != Some("tok") {
        return Reply::json(401, json!({"message": "401 Unauthorized"}));
    }
    let base = "/api/v4/projects/group%2Frepo";
    let path = seen.path();
    let Some(rest) = path.strip_prefix(base) else {
        return Reply::json(404, json!({"message": "404 Project Not Found"}));
    };
    match (seen.method.as_str(), rest) {
        ("GET", "/repository/commits/abc") => {
            Reply::json(200, json!({"id": "abc", "last_pipeline": {"id": 7}}))
        }
        ("GET", "/repository/commits/big") => {
            Reply::json(200, json!({"id": "big", "last_pipeline": {"id": 8}}))
        }
        // A very large list: no X-Total-Pages, only X-Next-Page (empty on the last page).
        ("GET", "/pipelines/8/jobs") if seen.query().contains("page=1&") => {
            Reply::json(200, json!([{"id": 20, "name": "a"}])).header("X-Next-Page", "2")
        }
        ("GET", "/pipelines/8/jobs") if seen.query().contains("page=2&") => {
            Reply::json(200, json!([{"id": 21, "name": "b"}])).header("X-Next-Page", "")
        }
        ("GET", "/repository/commits/nopipe") => {
            Reply::json(200, json!({"id": "nopipe", "last_pipeline": null}))
        }
        ("GET", "/pipelines/7/jobs") if seen.query().contains("page=1&") => Reply::json(
            200,
            json!([{"id": 10, "name": "build"}, {"id": 11, "name": "deploy"}]),
        )
        .header("X-Total-Pages", "2"),
        ("GET", "/pipelines/7/jobs") if seen.query().contains("page=2&") => Reply::json(
            200,
            json!([{"id": 12, "name": "deploy"}, {"id": 9, "name": "deploy"}]),
        )
        .header("X-Total-Pages", "2"),
        ("GET", "/jobs/12") | ("GET", "/jobs/10") => {
            let id: u64 = rest.trim_start_matches("/jobs/").parse().unwrap();
            Reply::json(
                200,
                json!({"id": id, "status": "manual", "allow_failure": false, "web_url": "w"}),
            )
        }
        ("POST", "/jobs/12/play") => Reply::json(200, json!({"id": 12, "status": "pending"})),
        _ => Reply::json(404, json!({"message": "404 Not found"})),
    }
}

fn body(value: serde_json::Value) -> GitlabJobBody {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn gitlab_job_finds_the_newest_match_across_pages_and_plays_it() {
    let gitlab = TestServer::start(fake_gitlab).await;
    let mut s = settings(&[]);
    s.gitlab_host = Some(gitlab.url(""));
    s.gitlab_access_token = Some(Secret::new("tok"));
    let outbound = client(s);
    let request = body(json!({
        "gitlab_host": gitlab.url(""), "project_id": "qaboard-project/sub", "commit_id": "abc",
        "job_name": "deploy", "text": "Deploy", "unknown": 1
    }))
    .into_query(Some("group/repo".into()))
    .unwrap();

    let answer = outbound.gitlab_job(&request).await.unwrap();
    assert_eq!(answer.status, 200);
    let job: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(job["id"], 12);
    assert_eq!(answer.header("content-type"), Some("application/json"));

    let played = outbound.gitlab_play_job(&request).await.unwrap();
    let job: serde_json::Value = serde_json::from_slice(&played.body).unwrap();
    assert_eq!(
        (played.status, job["status"].as_str()),
        (200, Some("pending"))
    );

    // A known job id skips the search.
    let by_id = body(json!({"project_id": "x", "commit_id": "abc", "job_id": 10}))
        .into_query(Some("group/repo".into()))
        .unwrap();
    let answer = outbound.gitlab_job(&by_id).await.unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&answer.body).unwrap()["id"],
        10
    );

    let pages: Vec<String> = gitlab
        .seen()
        .iter()
        .filter(|s| s.path().ends_with("/jobs"))
        .map(|s| s.query().to_owned())
        .collect();
    assert_eq!(
        pages,
        [
            "page=1&per_page=50",
            "page=2&per_page=50",
            "page=1&per_page=50",
            "page=2&per_page=50"
        ]
    );
}

#[tokio::test]
async fn gitlab_errors_are_json_able() {
    let gitlab = TestServer::start(fake_gitlab).await;
    let mut s = settings(&[]);
    s.gitlab_host = Some(gitlab.url(""));
    s.gitlab_access_token = Some(Secret::new("tok"));
    let outbound = client(s.clone());
    let query = |commit: &str, name: &str| {
        body(json!({"commit_id": commit, "job_name": name}))
            .into_query(Some("group/repo".into()))
            .unwrap()
    };
    let err = outbound
        .gitlab_job(&query("nopipe", "deploy"))
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), 404, "{err:?}");
    let err = outbound
        .gitlab_job(&query("abc", "missing"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        OutboundError::NotFound("Only these jobs are available: build, deploy".into())
    );
    let err = outbound
        .gitlab_job(&query("unknown", "deploy"))
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), 404, "{err:?}");

    s.gitlab_access_token = None;
    let err = client(s)
        .gitlab_job(&query("abc", "deploy"))
        .await
        .unwrap_err();
    assert_eq!(err, OutboundError::Internal(MISSING_TOKEN_ERROR.into()));

    let err = body(json!({"project_id": "p", "job_name": "x"}))
        .into_query(None)
        .unwrap_err();
    assert_eq!(err.status_code(), 400);
}

#[tokio::test]
async fn the_gitlab_token_never_goes_to_a_host_named_by_the_client() {
    let gitlab = TestServer::start(fake_gitlab).await;
    let attacker = TestServer::start(|_| Reply::json(200, json!({}))).await;
    let mut s = settings(&[format!("127.0.0.1:{}", attacker.port)]);
    s.gitlab_host = Some(gitlab.url(""));
    s.gitlab_access_token = Some(Secret::new("tok"));
    let outbound = client(s);
    let request = body(json!({
        "gitlab_host": attacker.url(""), "commit_id": "abc", "job_name": "deploy"
    }))
    .into_query(Some("group/repo".into()))
    .unwrap();
    let err = outbound.gitlab_job(&request).await.unwrap_err();
    assert!(matches!(err, OutboundError::Forbidden(_)), "{err:?}");
    let err = outbound.gitlab_play_job(&request).await.unwrap_err();
    assert_eq!(err.status_code(), 403);
    assert!(attacker.seen().is_empty() && gitlab.seen().is_empty());
    assert!(
        !format!("{outbound:?}").contains("tok\""),
        "the token is redacted in Debug"
    );
}

fn fake_jenkins(port: Arc<OnceLock<u16>>) -> impl Fn(&Seen) -> Reply + Send + Sync {
    move |seen| {
        // "user:secret" in base64
        if seen.headers.get("authorization").map(String::as_str) != Some("Basic dXNlcjpzZWNyZXQ=")
            || seen.headers.get("jenkins-crumb").map(String::as_str) != Some("crumb")
        {
            return Reply::new(401, "no");
        }
        let port = port.get().copied().unwrap();
        match (seen.method.as_str(), seen.path()) {
            ("GET", "/job/nightly/42/api/json") => {
                Reply::json(200, json!({"building": false, "result": "UNSTABLE"}))
            }
            ("GET", "/job/nightly/43/api/json") => {
                Reply::json(200, json!({"building": true, "result": null}))
            }
            ("GET", "/job/nightly/44/api/json") => {
                Reply::json(200, json!({"building": false, "result": "SUCCESS"}))
            }
            ("GET", "/job/nightly/45/api/json") => {
                Reply::json(200, json!({"building": false, "result": "WEIRD"}))
            }
            ("POST", "/job/nightly/buildWithParameters") => {
                Reply::new(201, "").header("Location", "/queue/item/5/")
            }
            ("POST", "/job/broken/buildWithParameters") => Reply::new(201, ""),
            ("GET", "/queue/item/5/api/json") => Reply::json(
                200,
                json!({"_class": "hudson.model.Queue$WaitingItem", "id": 5, "url": "queue/item/5/", "why": "In the quiet period"}),
            ),
            ("GET", "/queue/item/6/api/json") => Reply::json(
                200,
                json!({"id": 6, "executable": {"number": 44, "url": format!("http://127.0.0.1:{port}/job/nightly/44/")}}),
            ),
            _ => Reply::new(404, "not found"),
        }
    }
}

async fn jenkins() -> (TestServer, qaboard_outbound::Outbound) {
    let port = Arc::new(OnceLock::new());
    let server = TestServer::start(fake_jenkins(Arc::clone(&port))).await;
    port.set(server.port).unwrap();
    let mut s = settings(&[]);
    s.jenkins_auth = BTreeMap::from([(
        "127.0.0.1".to_owned(),
        JenkinsCredentials {
            user: "user".into(),
            token: Secret::new("secret"),
            crumb: Some(Secret::new("crumb")),
        },
    )]);
    (server, client(s))
}

#[tokio::test]
async fn jenkins_build_statuses() {
    let (server, outbound) = jenkins().await;
    let status = |v| {
        let outbound = outbound.clone();
        async move { outbound.jenkins_build_status(&v).await }
    };
    let unstable = status(json!({"web_url": server.url("/job/nightly/42/")}))
        .await
        .unwrap();
    assert_eq!(
        (unstable.status.as_str(), unstable.allow_failure),
        ("UNSTABLE", true)
    );
    assert_eq!(
        unstable.web_url.as_deref(),
        Some(server.url("/job/nightly/42/").as_str())
    );
    let running = status(json!({"build_url": server.url("/job/nightly/43")}))
        .await
        .unwrap();
    assert_eq!(running.status, "running");

    // A queue item stays pending until it names its build.
    let waiting = status(json!({"status": "pending", "url": server.url("/queue/item/5/")}))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&waiting).unwrap(),
        json!({"status": "pending", "allow_failure": false, "url": server.url("/queue/item/5/")})
    );
    let started = status(json!({"status": "pending", "url": server.url("/queue/item/6/api/json")}))
        .await
        .unwrap();
    assert_eq!(started.status, "success");
    assert_eq!(
        started.web_url.as_deref(),
        Some(server.url("/job/nightly/44/").as_str())
    );

    let err = status(json!({"web_url": server.url("/job/nightly/45")}))
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), 500);
    let err = status(json!({"web_url": "http://jenkins.invalid/job/x/1"}))
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), 403, "{err:?}");
    let err = status(json!({"status": "pending"})).await.unwrap_err();
    assert_eq!(err.status_code(), 400);
}

#[tokio::test]
async fn jenkins_trigger_answers_once_queued() {
    let (server, outbound) = jenkins().await;
    let trigger: JenkinsTrigger = serde_json::from_value(json!({
        "build_url": server.url("/job/nightly/"), "params": {"commit": "abc", "n": 3},
        "project_id": "p", "commit_id": "abc"
    }))
    .unwrap();
    let answer = outbound.jenkins_trigger(&trigger).await.unwrap();
    assert_eq!(answer["status"], "pending");
    assert_eq!(answer["id"], 5);
    assert_eq!(answer["url"], server.url("/queue/item/5/"));
    let posted = server
        .seen()
        .into_iter()
        .find(|s| s.method == "POST")
        .unwrap();
    assert_eq!(
        posted.query(),
        "cause=Triggered+via+QA-Board&commit=abc&n=3&token=qaboard"
    );

    let err = outbound
        .jenkins_trigger(&JenkinsTrigger::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        OutboundError::BadRequest(MISSING_BUILD_URL_ERROR.into())
    );
    let broken = JenkinsTrigger {
        build_url: Some(server.url("/job/broken")),
        ..JenkinsTrigger::default()
    };
    let err = outbound.jenkins_trigger(&broken).await.unwrap_err();
    assert_eq!(err.status_code(), 502, "{err:?}");
    let elsewhere = JenkinsTrigger {
        build_url: Some("http://jenkins.invalid/job/x".into()),
        ..JenkinsTrigger::default()
    };
    assert_eq!(
        outbound
            .jenkins_trigger(&elsewhere)
            .await
            .unwrap_err()
            .status_code(),
        403
    );
}
