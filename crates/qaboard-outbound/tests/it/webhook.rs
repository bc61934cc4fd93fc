//! The webhook proxy: what is sent, what comes back.

use qaboard_outbound::WebhookRequest;
use serde_json::json;

use crate::server::{Reply, TestServer};
use crate::{client, host_of, settings};

#[tokio::test]
async fn webhook_sends_the_integration_and_filters_the_answer() {
    let server = TestServer::start(|seen| {
        Reply::new(202, format!("{} {}", seen.method, seen.target))
            .header("Set-Cookie", "a=b")
            .header("X-Jenkins-Queue", "5")
            .header("Keep-Alive", "timeout=5")
    })
    .await;
    let outbound = client(settings(&[host_of(&server)]));
    let request: WebhookRequest = serde_json::from_value(json!({
        "method": "post", "url": server.url("/hook"), "params": {"a": "1", "b": 2},
        "headers": {"X-Token": "t", "Connection": "upgrade"}, "json": {"commit": "abc"},
        "auth": {"username": "u", "password": "p"}, "cookies": {"c": "d"},
        "text": "Start", "unknown": [1]
    }))
    .unwrap();
    let answer = outbound.webhook(&request, &[]).await.unwrap();
    assert_eq!(answer.status, 202);
    assert_eq!(&answer.body[..], b"POST /hook?a=1&b=2");
    assert_eq!(answer.header("x-jenkins-queue"), Some("5"));
    assert_eq!(answer.header("set-cookie"), None);
    assert_eq!(answer.header("keep-alive"), None);
    assert_eq!(answer.header("content-length"), None);

    let seen = &server.seen()[0];
    assert_eq!(seen.body, br#"{"commit":"abc"}"#);
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["x-token"], "t");
    assert_eq!(seen.headers["authorization"], "Basic dTpw");
    assert_eq!(seen.headers["cookie"], "c=d");
    assert_ne!(
        seen.headers.get("connection").map(String::as_str),
        Some("upgrade")
    );
}

#[tokio::test]
async fn webhook_form_data_head_and_methods() {
    let server = TestServer::start(|seen| Reply::new(200, seen.body.clone())).await;
    let mut s = settings(&[]);
    s.qaboard_origin = Some(server.url(""));
    let outbound = client(s);
    // Relative URLs go to the QA-Board origin (status checks of `href` integrations).
    let form: WebhookRequest = serde_json::from_value(json!({
        "method": "PUT", "url": "/api/x", "data": {"k": "v w"}
    }))
    .unwrap();
    let answer = outbound.webhook(&form, &[]).await.unwrap();
    assert_eq!(&answer.body[..], b"k=v+w");
    let head: WebhookRequest =
        serde_json::from_value(json!({"method": "HEAD", "url": server.url("/")})).unwrap();
    assert_eq!(outbound.webhook(&head, &[]).await.unwrap().status, 200);
    let delete: WebhookRequest =
        serde_json::from_value(json!({"method": "DELETE", "url": server.url("/")})).unwrap();
    assert_eq!(
        outbound
            .webhook(&delete, &[])
            .await
            .unwrap_err()
            .status_code(),
        400
    );
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn webhook_answers_over_one_mebibyte_are_refused() {
    let server = TestServer::start(|_| Reply {
        no_length: true,
        ..Reply::new(200, vec![b'x'; (1 << 20) + 1])
    })
    .await;
    let outbound = client(settings(&[host_of(&server)]));
    let request: WebhookRequest =
        serde_json::from_value(json!({"method": "GET", "url": server.url("/")})).unwrap();
    assert_eq!(
        outbound
            .webhook(&request, &[])
            .await
            .unwrap_err()
            .status_code(),
        502
    );
}

#[tokio::test]
async fn credentials_do_not_follow_a_redirect_to_another_origin() {
    let other = TestServer::start(|seen| Reply::new(200, seen.method.clone())).await;
    let location = other.url("/landing");
    let first = TestServer::start(move |_| Reply::new(303, "").header("Location", &location)).await;
    let outbound = client(settings(&[host_of(&first), host_of(&other)]));
    let request: WebhookRequest = serde_json::from_value(json!({
        "method": "POST", "url": first.url("/hook"), "json": {"a": 1},
        "auth": {"username": "u", "password": "p"}, "cookies": {"session": "s"},
        "headers": {"Authorization": "Bearer x", "X-Trace": "1"}
    }))
    .unwrap();
    let answer = outbound.webhook(&request, &[]).await.unwrap();
    // 303 turns the POST into a GET without body.
    assert_eq!((answer.status, &answer.body[..]), (200, &b"GET"[..]));
    let first_seen = &first.seen()[0];
    assert_eq!(first_seen.headers["authorization"], "Basic dTpw");
    assert_eq!(first_seen.headers["cookie"], "session=s");
    let landed = &other.seen()[0];
    assert_eq!(landed.headers.get("authorization"), None);
    assert_eq!(landed.headers.get("cookie"), None);
    assert_eq!(landed.headers["x-trace"], "1");
    assert!(landed.body.is_empty());
}
