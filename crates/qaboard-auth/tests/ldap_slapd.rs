//! LDAP login against a real OpenLDAP server.
//!
//! Each test starts its own throwaway `slapd` with `scripts/ldap-test-server.sh` (directory content
//! described there) and stops it at the end. When `slapd` is not installed the tests are skipped,
//! except in CI (`CI=true` or `QABOARD_REQUIRE_LDAP=1`), where that is a failure. Install with:
//! `echo "slapd slapd/no_configuration boolean true" | debconf-set-selections;
//! apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y slapd ldap-utils`.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use qaboard_auth::ldap::authenticate;
use qaboard_auth::{AuthError, LdapSettings, LdapUser};

const SLAPD: &str = "/usr/sbin/slapd";

fn require_ldap() -> bool {
    let on = |v: &str| std::env::var(v).is_ok_and(|v| v == "1" || v == "true");
    on("CI") || on("QABOARD_REQUIRE_LDAP")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ldap-test-server.sh")
}

/// A running slapd, stopped on drop.
struct Slapd {
    dir: String,
    vars: HashMap<String, String>,
}

impl Slapd {
    fn start() -> Option<Slapd> {
        if !Path::new(SLAPD).exists() {
            assert!(
                !require_ldap(),
                "CI needs slapd for the LDAP tests: apt-get install -y slapd ldap-utils"
            );
            eprintln!("note: {SLAPD} not found: LDAP test skipped");
            return None;
        }
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .output()
            .expect("run ldap-test-server.sh");
        assert!(
            out.status.success(),
            "ldap-test-server.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vars: HashMap<String, String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(Slapd {
            dir: vars["LDAPTEST_DIR"].clone(),
            vars,
        })
    }

    /// Settings as an operator would give them, for this user filter.
    fn settings(&self, filter: &str) -> LdapSettings {
        let v = |k: &str| self.vars[k].clone();
        let env: HashMap<&str, String> = HashMap::from([
            ("QABOARD_LDAP_ENABLED", "true".to_string()),
            ("QABOARD_LDAP_HOST", v("QABOARD_TEST_LDAP_HOST")),
            ("QABOARD_LDAP_PORT", v("QABOARD_TEST_LDAP_PORT")),
            ("QABOARD_LDAP_BIND_DN", v("QABOARD_TEST_LDAP_BIND_DN")),
            ("QABOARD_LDAP_PASSWORD", v("QABOARD_TEST_LDAP_PASSWORD")),
            ("QABOARD_LDAP_USER_BASE", v("QABOARD_TEST_LDAP_USER_BASE")),
            ("QABOARD_LDAP_USER_FILTER", filter.to_string()),
        ]);
        let s = LdapSettings::from_lookup(|k| env.get(k).cloned())
            .unwrap()
            .unwrap();
        assert_eq!(s.url(), self.vars["QABOARD_TEST_LDAP_URL"]);
        s
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.dir])
            .status();
    }
}

const UID_FILTER: &str = "(&(objectClass=inetOrgPerson)(uid={login}))";
const UID_OR_MAIL_FILTER: &str = "(&(objectClass=inetOrgPerson)(|(uid={login})(mail={login})))";

#[tokio::test]
async fn users_log_in_with_their_password_only() {
    let Some(server) = Slapd::start() else { return };
    let s = server.settings(UID_FILTER);
    let alice = authenticate(&s, "alice", "alice-secret").await.unwrap();
    assert_eq!(
        alice,
        LdapUser {
            dn: "uid=alice,ou=people,dc=qaboard,dc=test".into(),
            full_name: Some("Alice Liddell".into()),
            email: Some("alice@qaboard.test".into()),
        }
    );
    for (login, password, want) in [
        ("alice", "wrong", "invalid-password"),
        ("alice", "star-secret", "invalid-password"),
        ("alice", "", "invalid-password"),
        ("bob", "alice-secret", "invalid-username"),
        ("", "alice-secret", "invalid-username"),
        // The service account is not under the user base.
        ("qaboard", "service-secret", "invalid-username"),
    ] {
        let err = authenticate(&s, login, password).await.unwrap_err();
        assert_eq!(err.login_error(), Some(want), "{login}/{password}: {err}");
    }
    let nomail = authenticate(&s, "nomail", "nomail-secret").await.unwrap();
    assert_eq!(nomail.full_name.as_deref(), Some("No Mail"));
    assert_eq!(nomail.email, None);
}

#[tokio::test]
async fn filter_metacharacters_in_a_login_are_escaped() {
    let Some(server) = Slapd::start() else { return };
    for filter in [UID_FILTER, UID_OR_MAIL_FILTER] {
        let s = server.settings(filter);
        // A real uid made of metacharacters logs in as itself.
        let star = authenticate(&s, "st*r(x)\\", "star-secret").await.unwrap();
        assert_eq!(star.dn, "uid=st*r(x)\\5C,ou=people,dc=qaboard,dc=test");
        assert_eq!(star.email.as_deref(), Some("star@qaboard.test"));
        // Injection attempts never reach another entry, whichever password is tried.
        for login in [
            "*",
            "a*",
            "*lice",
            "st*",
            "st*r(x)",
            "alice)(uid=*",
            "*)(uid=*",
            "alice)(|(uid=*",
            "*))(|(uid=*",
            "alice\0",
            "\0",
            "alice\\2a",
            "st\\2ar\\28x\\29\\5c",
        ] {
            for password in ["alice-secret", "star-secret", "nomail-secret"] {
                let err = authenticate(&s, login, password).await.unwrap_err();
                assert_eq!(
                    err.login_error(),
                    Some("invalid-username"),
                    "{filter} {login:?}: {err}"
                );
            }
        }
        // The e-mail works as a login when the filter says so.
        if filter == UID_OR_MAIL_FILTER {
            let a = authenticate(&s, "alice@qaboard.test", "alice-secret").await;
            assert_eq!(a.unwrap().dn, "uid=alice,ou=people,dc=qaboard,dc=test");
        }
    }
}

#[tokio::test]
async fn server_side_problems_are_not_login_refusals() {
    let Some(server) = Slapd::start() else { return };
    // Service account refused.
    let mut s = server.settings(UID_FILTER);
    s.bind_password = "not-the-service-password".into();
    let err = authenticate(&s, "alice", "alice-secret").await.unwrap_err();
    assert!(matches!(err, AuthError::Ldap(_)), "{err}");
    // A filter that matches several entries cannot say who logs in.
    let s = server.settings("(|(uid={login})(objectClass=inetOrgPerson))");
    let err = authenticate(&s, "alice", "alice-secret").await.unwrap_err();
    assert_eq!(err.login_error(), Some("invalid-username"));
    // Malformed filter from the operator.
    let s = server.settings("(uid={login}");
    let err = authenticate(&s, "alice", "alice-secret").await.unwrap_err();
    assert!(matches!(err, AuthError::Ldap(_)), "{err}");
    // Without the service account, the ACLs hide even the user base from anonymous searches
    // (slapd answers noSuchObject, 32): a configuration problem, not a refused login.
    let mut s = server.settings(UID_FILTER);
    s.bind_dn.clear();
    let err = authenticate(&s, "alice", "alice-secret").await.unwrap_err();
    assert!(matches!(err, AuthError::Ldap(_)), "{err}");
    assert!(err.to_string().contains("rc=32"), "{err}");
    // Server gone.
    let s = server.settings(UID_FILTER);
    drop(server);
    let err = authenticate(&s, "alice", "alice-secret").await.unwrap_err();
    assert!(matches!(err, AuthError::Ldap(_)), "{err}");
}
