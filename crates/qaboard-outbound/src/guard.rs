//! The SSRF guard: which hosts each use may reach, and which addresses a host may resolve to.
//!
//! Two checks, both here and nowhere else:
//! 1. [`Guard::check`] runs on every URL before a request and on every redirect hop: scheme
//!    http(s), a host, the host (and port) on the allow-list of the use ([`Reach`]), and for IP
//!    literals the address filter (reqwest does not call the resolver for them).
//! 2. [`GuardedResolver`] is the client's DNS resolver: after resolution it drops loopback,
//!    link-local (incl. `169.254.169.254`), private, shared (CGNAT), unique-local, unspecified,
//!    multicast, broadcast and documentation addresses, unless the host is *trusted* (configured
//!    by the operator: `GITLAB_HOST`, `GITLAB_AUTH` and `JENKINS_AUTH` hosts,
//!    `proxy_allowed_hosts`, the QA-Board origin). Filtering the resolved addresses themselves
//!    (the ones the connection uses) also defeats DNS rebinding.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::settings::OutboundSettings;

/// Gravatar's hosts, reachable by the avatar proxy (the webapp shows `http://gravatar.com/avatar/<md5>`).
pub const GRAVATAR_HOSTS: [&str; 3] = ["gravatar.com", "www.gravatar.com", "secure.gravatar.com"];

/// One allow-list entry: a host name or IP (lowercase, no brackets), optionally with a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostRule {
    host: String,
    port: Option<u16>,
}

impl HostRule {
    /// Parses `host`, `host:port`, `[v6]:port` or a URL (`https://host:port/path`, whose port,
    /// explicit or the scheme's default, is kept). `None` for an entry without a host.
    pub(crate) fn parse(entry: &str) -> Option<HostRule> {
        let entry = entry.trim();
        if entry.is_empty() {
            return None;
        }
        if entry.contains("://") {
            let url = Url::parse(entry).ok()?;
            return Some(HostRule {
                host: normalize_host(url.host_str()?),
                port: url.port_or_known_default(),
            });
        }
        // Parse `host[:port]` as the authority of a URL with an unusual scheme, so that
        // no default port is dropped (`x:80` keeps 80).
        let url = Url::parse(&format!("qaboard-host://{entry}")).ok()?;
        Some(HostRule {
            host: normalize_host(url.host_str()?),
            port: url.port(),
        })
    }

    pub(crate) fn matches(&self, host: &str, port: u16) -> bool {
        self.host == host && self.port.is_none_or(|p| p == port)
    }
}

impl std::fmt::Display for HostRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bracket = self.host.contains(':');
        match (bracket, self.port) {
            (true, Some(p)) => write!(f, "[{}]:{p}", self.host),
            (true, None) => write!(f, "[{}]", self.host),
            (false, Some(p)) => write!(f, "{}:{p}", self.host),
            (false, None) => f.write_str(&self.host),
        }
    }
}

/// Lowercase, without IPv6 brackets or a trailing dot.
pub(crate) fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Which allow-list a request is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reach<'a> {
    /// Avatar/badge proxy: `GITLAB_HOST`'s host (any port), `GITLAB_AUTH` hosts, gravatar, `proxy_allowed_hosts`.
    Proxy,
    /// Webhook proxy: `proxy_allowed_hosts`, the QA-Board origin, and the hosts the caller read
    /// from projects' integrations (those are *not* trusted with private addresses).
    Webhook(&'a [HostRule]),
    /// GitLab API: the configured `GITLAB_HOST` only.
    Gitlab,
    /// Jenkins API: the `JENKINS_AUTH` hosts only.
    Jenkins,
}

/// Why the guard refused a URL; each use maps it to its own status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not http(s), or no host.
    BadUrl(String),
    /// The host is not on the use's allow-list.
    NotAllowed(String),
    /// An IP literal that is loopback, private, link-local...
    PrivateAddress(String),
}

/// The allow-lists, built once from the settings.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    gitlab: Option<HostRule>,
    gitlab_auth: Vec<HostRule>,
    gravatar: Vec<HostRule>,
    allowed: Vec<HostRule>,
    origin: Option<HostRule>,
    jenkins: Vec<HostRule>,
    trusted: Arc<HashSet<String>>,
}

impl Guard {
    pub(crate) fn new(settings: &OutboundSettings) -> Guard {
        let gitlab = settings
            .gitlab_host
            .as_deref()
            .filter(|h| h.starts_with("http://") || h.starts_with("https://"))
            .and_then(HostRule::parse);
        let gitlab_auth = parse_all(settings.gitlab_auth_hosts.iter().map(String::as_str));
        let gravatar = parse_all(GRAVATAR_HOSTS);
        let allowed = parse_all(settings.proxy_allowed_hosts.iter().map(String::as_str));
        let origin = settings.qaboard_origin.as_deref().and_then(HostRule::parse);
        let jenkins = parse_all(settings.jenkins_auth.keys().map(String::as_str));
        let trusted = gitlab
            .iter()
            .chain(&gitlab_auth)
            .chain(&allowed)
            .chain(&origin)
            .chain(&jenkins)
            .map(|rule| rule.host.clone())
            .collect();
        Guard {
            gitlab,
            gitlab_auth,
            gravatar,
            allowed,
            origin,
            jenkins,
            trusted: Arc::new(trusted),
        }
    }

    /// The resolver the client must use, sharing this guard's trusted hosts.
    pub(crate) fn resolver(&self) -> GuardedResolver {
        GuardedResolver {
            trusted: Arc::clone(&self.trusted),
        }
    }

    /// Checks one URL (first request or redirect hop) for a use.
    pub(crate) fn check(&self, url: &Url, reach: Reach<'_>) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::BadUrl(format!(
                "only http and https URLs are proxied, not {}:",
                url.scheme()
            )));
        }
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Err(Refusal::BadUrl("the URL has no host".into()));
        };
        let host = normalize_host(host);
        let on = |rules: &[HostRule]| rules.iter().any(|r| r.matches(&host, port));
        let allowed = match reach {
            Reach::Proxy => {
                // Avatars and badges may be on any port of the GitLab host (http or https).
                self.gitlab.iter().any(|r| r.host == host)
                    || on(&self.gitlab_auth)
                    || on(&self.gravatar)
                    || on(&self.allowed)
            }
            Reach::Webhook(extra) => {
                on(&self.allowed) || self.origin.iter().any(|r| r.matches(&host, port)) || on(extra)
            }
            Reach::Gitlab => self.gitlab.iter().any(|r| r.matches(&host, port)),
            Reach::Jenkins => on(&self.jenkins),
        };
        if !allowed {
            return Err(Refusal::NotAllowed(format!(
                "{host} is not an allowed host"
            )));
        }
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal {
            if !self.trusted.contains(&host) && !is_public(ip) {
                return Err(Refusal::PrivateAddress(format!(
                    "{host} is a loopback, link-local or private address"
                )));
            }
        }
        Ok(())
    }

    /// Whether `host` was configured by the operator (may resolve to private addresses).
    #[cfg(test)]
    pub(crate) fn is_trusted(&self, host: &str) -> bool {
        self.trusted.contains(&normalize_host(host))
    }
}

fn parse_all<'a>(entries: impl IntoIterator<Item = &'a str>) -> Vec<HostRule> {
    entries.into_iter().filter_map(HostRule::parse).collect()
}

/// True for globally routable unicast addresses; false for loopback, link-local, private (RFC 1918),
/// shared (RFC 6598), unique-local (RFC 4193), unspecified, multicast, broadcast, documentation,
/// benchmarking, reserved and `0.0.0.0/8` addresses, and IPv4-mapped/compatible forms of them.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            is_public_v6(v6)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, RFC 6890
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, RFC 4193
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 may embed any IPv4
        || ip.segments()[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
}

/// The address a resolver refused; found in reqwest's error chain to answer 403.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{host} resolves only to loopback, link-local or private addresses")]
pub struct BlockedAddress {
    host: String,
}

/// reqwest DNS resolver that filters resolved addresses (see the module docs). Uses the system
/// resolver (`getaddrinfo` through tokio) like reqwest's default.
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver {
    trusted: Arc<HashSet<String>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = normalize_host(name.as_str());
        let trusted = self.trusted.contains(&host);
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = if trusted {
                resolved
            } else {
                resolved.into_iter().filter(|a| is_public(a.ip())).collect()
            };
            if kept.is_empty() {
                log::warn!("outbound: refused {host}: no public address");
                return Err(Box::new(BlockedAddress { host }) as Box<_>);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_hosts_ports_and_urls() {
        let r = HostRule::parse("Example.com:8080").unwrap();
        assert!(r.matches("example.com", 8080) && !r.matches("example.com", 80));
        let r = HostRule::parse("example.com").unwrap();
        assert!(r.matches("example.com", 1));
        let r = HostRule::parse("https://gitlab.example.com/").unwrap();
        assert!(r.matches("gitlab.example.com", 443) && !r.matches("gitlab.example.com", 80));
        let r = HostRule::parse("[::1]:9").unwrap();
        assert!(r.matches("::1", 9));
        assert!(HostRule::parse("  ").is_none());
    }

    #[test]
    fn address_classes() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "140.82.112.3",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn trusted_hosts_come_from_configuration_only() {
        let settings = OutboundSettings {
            gitlab_host: Some("https://gitlab.corp:8443".into()),
            proxy_allowed_hosts: vec!["hooks.corp".into()],
            ..Default::default()
        };
        let guard = Guard::new(&settings);
        assert!(guard.is_trusted("gitlab.corp") && guard.is_trusted("HOOKS.corp"));
        assert!(!guard.is_trusted("gravatar.com"));
        let url = Url::parse("https://gitlab.corp:8443/x.png").unwrap();
        assert!(guard.check(&url, Reach::Gitlab).is_ok());
        let other_port = Url::parse("https://gitlab.corp/x.png").unwrap();
        assert!(guard.check(&other_port, Reach::Gitlab).is_err());
    }
}
