//! The avatar/badge proxy: forwarding, header filtering, cache, size cap, timeout.

use std::time::Duration;

use qaboard_outbound::{proxy_url_from_query, OutboundError};

use crate::server::{Reply, TestServer};
use crate::{client, host_of, settings};

#[tokio::test]
async fn forwards_allowed_images_with_safe_headers_only() {
    let server = TestServer::start(|_| {
        Reply::new(200, b"\x89PNG-bytes".to_vec())
            .header("Content-Type", "image/png")
            .header("Cache-Control", "max-age=60")
            .header("ETag", "\"abc\"")
            .header("Set-Cookie", "session=secret")
            .header("X-Internal", "yes")
    })
    .await;
    let outbound = client(settings(&[host_of(&server)]));
    let query = format!("url={}", server.url("/avatar/a%20b.png?s=40&d=identicon"));
    let url = proxy_url_from_query(&query).unwrap();
    let answer = outbound.proxy(&url).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(&answer.body[..], b"\x89PNG-bytes");
    assert_eq!(answer.header("content-type"), Some("image/png"));
    assert_eq!(answer.header("etag"), Some("\"abc\""));
    assert_eq!(answer.header("cache-control"), Some("max-age=60"));
    assert_eq!(answer.header("set-cookie"), None);
    assert_eq!(answer.header("x-internal"), None);
    // The target's own query survives (encodeURI only; `&` is not a separator here).
    let seen = &server.seen()[0];
    assert_eq!(seen.target, "/avatar/a%20b.png?s=40&d=identicon");
    assert_eq!(seen.headers.get("cookie"), None);
}

#[tokio::test]
async fn repeated_avatars_are_served_from_the_cache() {
    let server = TestServer::start(|seen| match seen.path() {
        "/fail" => Reply::new(503, "busy"),
        _ => Reply::new(200, "img").header("Content-Type", "image/png"),
    })
    .await;
    let outbound = client(settings(&[host_of(&server)]));
    let url = server.url("/avatar/1");
    for _ in 0..5 {
        assert_eq!(outbound.proxy(&url).await.unwrap().status, 200);
    }
    // Concurrent requests for one URL share one fetch too.
    let other = server.url("/avatar/2");
    let all = futures_join(&outbound, &other, 8).await;
    assert!(all.iter().all(|s| *s == 200));
    assert_eq!(server.hits("/avatar/1"), 1);
    assert_eq!(server.hits("/avatar/2"), 1);
    // Server errors are not cached.
    let fail = server.url("/fail");
    assert_eq!(outbound.proxy(&fail).await.unwrap().status, 503);
    assert_eq!(outbound.proxy(&fail).await.unwrap().status, 503);
    assert_eq!(server.hits("/fail"), 2);
}

async fn futures_join(outbound: &qaboard_outbound::Outbound, url: &str, n: usize) -> Vec<u16> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let outbound = outbound.clone();
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            outbound.proxy(&url).await.unwrap().status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused_declared_or_streamed() {
    let big = vec![b'x'; (5 << 20) + 1];
    let server = TestServer::start(move |seen| {
        let reply = Reply::new(200, big.clone());
        if seen.path() == "/streamed" {
            Reply {
                no_length: true,
                ..reply
            }
        } else {
            reply
        }
    })
    .await;
    let outbound = client(settings(&[host_of(&server)]));
    for path in ["/declared", "/streamed"] {
        let err = outbound.proxy(&server.url(path)).await.unwrap_err();
        assert!(matches!(err, OutboundError::Upstream(_)), "{path}: {err:?}");
        assert_eq!(err.status_code(), 502);
    }
}

#[tokio::test]
async fn a_stalling_server_times_out() {
    let server = TestServer::start(|_| Reply {
        stall: Some(Duration::from_secs(30)),
        ..Reply::new(200, "late")
    })
    .await;
    let outbound = client(settings(&[host_of(&server)]));
    let err = outbound.proxy(&server.url("/slow")).await.unwrap_err();
    assert!(matches!(err, OutboundError::Timeout(_)), "{err:?}");
    assert_eq!(err.status_code(), 504);
}

#[tokio::test]
async fn redirects_between_allowed_hosts_are_followed() {
    let target = TestServer::start(|_| Reply::new(200, "final")).await;
    let location = target.url("/img");
    let first = TestServer::start(move |_| Reply::new(302, "").header("Location", &location)).await;
    let outbound = client(settings(&[host_of(&first), host_of(&target)]));
    let answer = outbound.proxy(&first.url("/start")).await.unwrap();
    assert_eq!((answer.status, &answer.body[..]), (200, &b"final"[..]));
}
