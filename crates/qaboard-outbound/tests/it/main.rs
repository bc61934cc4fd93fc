//! Integration tests against small HTTP servers started on 127.0.0.1 by each test. Loopback is
//! one module per area, linked once.

mod ci;
mod proxy;
mod server;
mod ssrf;
mod webhook;

use std::time::Duration;

use qaboard_outbound::{Limits, Outbound, OutboundSettings};

/// Settings allowing exactly `allowed` (e.g. `127.0.0.1:PORT`), with short timeouts.
pub fn settings(allowed: &[String]) -> OutboundSettings {
    OutboundSettings {
        proxy_allowed_hosts: allowed.to_vec(),
        limits: Limits {
            proxy_timeout: Duration::from_secs(1),
            webhook_timeout: Duration::from_secs(1),
            ci_timeout: Duration::from_secs(5),
            ..Limits::default()
        },
        ..OutboundSettings::default()
    }
}

pub fn client(settings: OutboundSettings) -> Outbound {
    Outbound::new(settings).expect("client")
}

pub fn host_of(server: &server::TestServer) -> String {
    format!("127.0.0.1:{}", server.port)
}
