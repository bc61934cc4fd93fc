//! Failed-login budgets per user name and per client address (token buckets, in process).
//!
//! Each user name and each client address has a bucket of failed attempts: a refused login takes
//! one token from both, tokens come back one per refill interval up to the burst size, and a login
//! is refused (before checking any password, so no LDAP bind either) while either bucket is empty.
//! A successful login refills the user name's bucket (not the address's). User names are compared
//! case-insensitively (LDAP `uid` matching is); IPv6 addresses are grouped by /64 (one
//! host usually owns a whole /64), IPv4-mapped IPv6 addresses count as IPv4.
//!
//! **In process, on purpose:** this is defence in depth against password guessing, not a
//! correctness rule. With N server processes behind a load balancer each has its own buckets, so an
//! attacker gets at most N times the budget; and a restart forgets them. Keeping the counters in the
//! database would make every refused login a write on the shared database (an easy way to load it)
//! for a limit that only has to be in the right order of magnitude. Memory stays bounded: buckets
//! that have refilled completely are dropped when the map grows past
//! [`RateLimits::max_entries`]. Callers pass the clock ([`Instant`]), so tests need no sleeping.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::AuthError;

/// Bucket sizes and refill rates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Failed attempts allowed in a burst for one user name (default 10).
    pub user_burst: u32,
    /// One more attempt per user name per this interval (default 1 minute).
    pub user_refill: Duration,
    /// Failed attempts allowed in a burst from one client address (default 30).
    pub address_burst: u32,
    /// One more attempt per address per this interval (default 10 seconds).
    pub address_refill: Duration,
    /// Entries kept before buckets that have fully refilled are pruned (default 100 000).
    pub max_entries: usize,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            user_burst: 10,
            user_refill: Duration::from_secs(60),
            address_burst: 30,
            address_refill: Duration::from_secs(10),
            max_entries: 100_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens available at `at`.
    tokens: u32,
    at: Instant,
}

/// Thread-safe login rate limiter; share one per process (e.g. in actix `web::Data`).
#[derive(Debug, Default)]
pub struct LoginRateLimiter {
    limits: RateLimits,
    buckets: Mutex<HashMap<Key, Bucket>>,
}

fn address_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(s.into())
            }
        },
    }
}

impl LoginRateLimiter {
    /// A limiter with these limits.
    pub fn new(limits: RateLimits) -> LoginRateLimiter {
        LoginRateLimiter {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn keys(user_name: &str, addr: Option<IpAddr>) -> [Option<Key>; 2] {
        [
            Some(Key::User(user_name.trim().to_lowercase())),
            addr.map(|a| Key::Address(address_key(a))),
        ]
    }

    fn limits_of(&self, key: &Key) -> (u32, Duration) {
        match key {
            Key::User(_) => (self.limits.user_burst, self.limits.user_refill),
            Key::Address(_) => (self.limits.address_burst, self.limits.address_refill),
        }
    }

    /// The bucket brought up to `now`: (tokens, time the next token arrives).
    fn refilled(&self, key: &Key, b: Bucket, now: Instant) -> Bucket {
        let (burst, every) = self.limits_of(key);
        if b.tokens >= burst || every.is_zero() {
            return Bucket {
                tokens: burst,
                at: now,
            };
        }
        let elapsed = now.saturating_duration_since(b.at);
        let gained = (elapsed.as_nanos() / every.as_nanos()).min(u128::from(burst)) as u32;
        let tokens = (b.tokens + gained).min(burst);
        let at = if tokens >= burst {
            now
        } else {
            b.at + every * gained
        };
        Bucket { tokens, at }
    }

    /// Whether a login attempt for `user_name` from `addr` (`None` when unknown) may proceed.
    /// Call before checking the password. Errors with [`AuthError::RateLimited`] (seconds to
    /// wait, at least 1) when the user name's or the address's budget is spent.
    pub fn check(
        &self,
        user_name: &str,
        addr: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), AuthError> {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        for key in Self::keys(user_name, addr).into_iter().flatten() {
            if let Some(b) = buckets.get(&key) {
                let b = self.refilled(&key, *b, now);
                if b.tokens == 0 {
                    let (_, every) = self.limits_of(&key);
                    wait = wait.max((b.at + every).saturating_duration_since(now));
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(AuthError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            })
        }
    }

    /// Records a refused login (unknown user name or wrong password): one token less for the user
    /// name and for the address.
    pub fn record_failure(&self, user_name: &str, addr: Option<IpAddr>, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= self.limits.max_entries {
            buckets.retain(|k, b| {
                let (burst, _) = self.limits_of(k);
                self.refilled(k, *b, now).tokens < burst
            });
        }
        for key in Self::keys(user_name, addr).into_iter().flatten() {
            let (burst, _) = self.limits_of(&key);
            let current = buckets.get(&key).copied().unwrap_or(Bucket {
                tokens: burst,
                at: now,
            });
            let mut b = self.refilled(&key, current, now);
            b.tokens = b.tokens.saturating_sub(1);
            buckets.insert(key, b);
        }
    }

    /// Records a successful login: the user name's budget is whole again.
    pub fn record_success(&self, user_name: &str) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.remove(&Key::User(user_name.trim().to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> LoginRateLimiter {
        LoginRateLimiter::new(RateLimits {
            user_burst: 3,
            user_refill: Duration::from_secs(60),
            address_burst: 5,
            address_refill: Duration::from_secs(10),
            max_entries: 100,
        })
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_user_name_is_blocked_after_its_burst_then_refills() {
        let l = small();
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(l.check("Alice", ip(&format!("10.0.0.{i}")), t0).is_ok());
            l.record_failure("Alice", ip(&format!("10.0.0.{i}")), t0);
        }
        // From any address, whatever the case of the name.
        let err = l.check("alice ", ip("10.9.9.9"), t0).unwrap_err();
        assert!(matches!(
            err,
            AuthError::RateLimited {
                retry_after_secs: 60
            }
        ));
        assert!(l.check("bob", ip("10.9.9.9"), t0).is_ok());
        let t1 = t0 + Duration::from_secs(59);
        assert!(matches!(
            l.check("alice", None, t1),
            Err(AuthError::RateLimited {
                retry_after_secs: 1
            })
        ));
        let t2 = t0 + Duration::from_secs(60);
        assert!(l.check("alice", None, t2).is_ok());
        l.record_failure("alice", None, t2);
        assert!(l.check("alice", None, t2).is_err(), "one token came back");
    }

    #[test]
    fn an_address_is_blocked_across_user_names() {
        let l = small();
        let t0 = Instant::now();
        for i in 0..5 {
            l.record_failure(&format!("user{i}"), ip("2001:db8::1"), t0);
        }
        // Same /64.
        assert!(l.check("someone", ip("2001:db8::ffff:1"), t0).is_err());
        assert!(l.check("someone", ip("2001:db8:0:1::1"), t0).is_ok());
        assert!(l.check("someone", None, t0).is_ok());
        assert!(l
            .check("someone", ip("2001:db8::1"), t0 + Duration::from_secs(10))
            .is_ok());
        // IPv4-mapped addresses are the IPv4 address.
        for i in 0..5 {
            l.record_failure(&format!("v{i}"), ip("::ffff:192.0.2.7"), t0);
        }
        assert!(l.check("x", ip("192.0.2.7"), t0).is_err());
    }

    #[test]
    fn success_clears_the_user_name_only() {
        let l = small();
        let t0 = Instant::now();
        for _ in 0..3 {
            l.record_failure("carol", ip("192.0.2.1"), t0);
        }
        assert!(l.check("carol", None, t0).is_err());
        l.record_success("Carol");
        assert!(l.check("carol", None, t0).is_ok());
        l.record_failure("dave", ip("192.0.2.1"), t0);
        l.record_failure("erin", ip("192.0.2.1"), t0);
        assert!(l.check("frank", ip("192.0.2.1"), t0).is_err());
    }

    #[test]
    fn memory_stays_bounded() {
        let l = small();
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let t = t0 + Duration::from_secs(60 * u64::from(i));
            l.record_failure(&format!("u{i}"), Some(IpAddr::from(i.to_be_bytes())), t);
        }
        assert!(l.buckets.lock().unwrap().len() <= 102);
    }
}
