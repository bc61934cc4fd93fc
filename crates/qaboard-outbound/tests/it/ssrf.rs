//! SSRF attempts: loopback, cloud metadata, redirects to refused targets, names resolving to
//! loopback, other schemes. The refused servers must see no request at all.

use qaboard_outbound::{OutboundError, WebhookRequest};

use crate::server::{Reply, TestServer};
use crate::{client, host_of, settings};

fn webhook_get(url: &str) -> WebhookRequest {
    WebhookRequest {
        method: Some("GET".into()),
        url: Some(url.into()),
        ..WebhookRequest::default()
    }
}

#[tokio::test]
async fn loopback_is_refused_unless_allowed() {
    let server = TestServer::start(|_| Reply::new(200, "secret")).await;
    let outbound = client(settings(&[]));
    let err = outbound.proxy(&server.url("/")).await.unwrap_err();
    assert_eq!(err.status_code(), 404, "{err:?}");
    // Named in a project's integration is not enough for a loopback address.
    let err = outbound
        .webhook(&webhook_get(&server.url("/hook")), &[host_of(&server)])
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Forbidden(_)), "{err:?}");
    // Not named at all.
    let err = outbound
        .webhook(&webhook_get(&server.url("/hook")), &[])
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), 403);
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn cloud_metadata_address_is_refused() {
    let outbound = client(settings(&[]));
    let metadata = "http://169.254.169.254/latest/meta-data/";
    assert_eq!(
        outbound.proxy(metadata).await.unwrap_err().status_code(),
        404
    );
    let err = outbound
        .webhook(&webhook_get(metadata), &["169.254.169.254".into()])
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Forbidden(_)), "{err:?}");
    let mapped = "http://[::ffff:169.254.169.254]/latest/meta-data/";
    let err = outbound
        .webhook(&webhook_get(mapped), &["[::ffff:169.254.169.254]".into()])
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Forbidden(_)), "{err:?}");
}

#[tokio::test]
async fn a_redirect_to_a_refused_target_is_not_followed() {
    let hidden = TestServer::start(|_| Reply::new(200, "internal")).await;
    let to_hidden = hidden.url("/admin");
    let allowed = TestServer::start(move |seen| {
        let location = match seen.path() {
            "/to-metadata" => "http://169.254.169.254/latest/meta-data/".to_owned(),
            _ => to_hidden.clone(),
        };
        Reply::new(302, "").header("Location", &location)
    })
    .await;
    // Only the redirecting server's port is allowed, not the hidden one on the same address.
    let outbound = client(settings(&[host_of(&allowed)]));
    let err = outbound.proxy(&allowed.url("/avatar")).await.unwrap_err();
    assert_eq!(err.status_code(), 404, "{err:?}");
    let err = outbound
        .proxy(&allowed.url("/to-metadata"))
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), 404, "{err:?}");
    let err = outbound
        .webhook(&webhook_get(&allowed.url("/hook")), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Forbidden(_)), "{err:?}");
    assert!(hidden.seen().is_empty());
    assert_eq!(allowed.seen().len(), 3);
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_after_resolution() {
    let server = TestServer::start(|_| Reply::new(200, "internal")).await;
    let outbound = client(settings(&[]));
    let url = format!("http://localhost:{}/hook", server.port);
    // The host passes the allow-list (named by an integration) but resolves to loopback.
    let err = outbound
        .webhook(&webhook_get(&url), &["localhost".into()])
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Forbidden(_)), "{err:?}");
    assert!(
        err.message().contains("localhost resolves only to"),
        "{err:?}"
    );
    assert!(server.seen().is_empty());

    // Once the operator lists the name, it may resolve to loopback.
    let outbound = client(settings(&[format!("localhost:{}", server.port)]));
    let answer = outbound.webhook(&webhook_get(&url), &[]).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(outbound.proxy(&url).await.unwrap().status, 200);
}

#[tokio::test]
async fn other_schemes_are_refused() {
    let outbound = client(settings(&["localhost".into(), "127.0.0.1".into()]));
    for url in [
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/x",
        "ftp://localhost/x",
        "data:text/plain,hi",
        "not a url",
    ] {
        assert_eq!(
            outbound.proxy(url).await.unwrap_err().status_code(),
            404,
            "{url}"
        );
        let err = outbound.webhook(&webhook_get(url), &[]).await.unwrap_err();
        assert_eq!(err.status_code(), 400, "{url}: {err:?}");
    }
}

#[tokio::test]
async fn other_spellings_of_loopback_are_refused() {
    let server = TestServer::start(|_| Reply::new(200, "internal")).await;
    let outbound = client(settings(&[]));
    let port = server.port;
    for url in [
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.0.0.1:{port}/"),
        format!("http://127.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://0.0.0.0:{port}/"),
    ] {
        assert_eq!(
            outbound.proxy(&url).await.unwrap_err().status_code(),
            404,
            "{url}"
        );
        let named = [
            "127.0.0.1".to_owned(),
            "[::ffff:127.0.0.1]".into(),
            "0.0.0.0".into(),
        ];
        let err = outbound
            .webhook(&webhook_get(&url), &named)
            .await
            .unwrap_err();
        assert_eq!(err.status_code(), 403, "{url}: {err:?}");
    }
    assert!(server.seen().is_empty());
}
