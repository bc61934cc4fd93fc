//! Nested sections of the settings (`[server]`, `[database]`, `[storage]`, `[git]`, `[jobs]`,
//! `[integrations]`, `[ldap]`), each key an alias of one flat key, so files written for the
//! flat names (and the original deployment's variables) keep working.
//!
//! A section key is read from the TOML file (`[database]\nurl = "…"`) or a variable with `__`
//! between section and key (`QABOARD_DATABASE__URL`). Each source is rewritten to the flat keys
//! on its own, so the precedence of sources stays as for flat keys (a variable beats the file
//! whichever spelling each uses). Within one source, a key given both ways, or an unknown key
//! of a section, is an error that names both spellings.
use config::{ConfigError, Map, Source, Value, ValueKind};

/// Every section: its name and `(key in the section, flat key)` pairs.
pub const SECTIONS: &[(&str, &[(&str, &str)])] = &[
    (
        "server",
        &[
            ("listen", "listen"),
            ("url", "url"),
            ("workers", "workers"),
            ("webapp_dir", "webapp_dir"),
            ("secret_key", "secret_key"),
            ("body_limit", "body_limit"),
            ("body_memory", "body_memory"),
            ("body_memory_wait_secs", "body_memory_wait_secs"),
            ("body_timeout_secs", "body_timeout_secs"),
            ("client_request_timeout_secs", "client_request_timeout_secs"),
            ("keep_alive_secs", "keep_alive_secs"),
            ("max_connections", "max_connections"),
            ("cache_bytes", "cache_bytes"),
            ("image_cache_bytes", "image_cache_bytes"),
        ],
    ),
    (
        "database",
        &[
            ("url", "database_url"),
            ("pool_size", "pool_size"),
            ("pool_timeout_secs", "pool_timeout_secs"),
            ("host", "db_host"),
            ("port", "db_port"),
            ("user", "db_user"),
            ("password", "db_password"),
            ("name", "db_name"),
            ("echo", "db_echo"),
        ],
    ),
    (
        "storage",
        &[
            ("data_dir", "data_dir"),
            ("root", "storage_root"),
            ("roots", "storage_roots"),
            ("gc_interval", "gc_interval"),
        ],
    ),
    (
        "git",
        &[
            ("dir", "git_dir"),
            ("gitlab_host", "gitlab_host"),
            ("gitlab_access_token", "gitlab_access_token"),
            ("gitlab_webhook_secret", "gitlab_webhook_secret"),
        ],
    ),
    (
        "jobs",
        &[
            ("qa_command", "qa_command"),
            ("max_jobs", "max_jobs"),
            ("start_wait_secs", "job_start_wait_secs"),
            ("time_limit_secs", "job_time_limit_secs"),
        ],
    ),
    (
        "integrations",
        &[
            ("gitlab_auth", "gitlab_auth"),
            ("jenkins_auth", "jenkins_auth"),
            ("proxy_allowed_hosts", "proxy_allowed_hosts"),
        ],
    ),
    (
        "ldap",
        &[
            ("enabled", "ldap_enabled"),
            ("host", "ldap_host"),
            ("port", "ldap_port"),
            ("bind_dn", "ldap_bind_dn"),
            ("password", "ldap_password"),
            ("user_base", "ldap_user_base"),
            ("user_filter", "ldap_user_filter"),
            ("attribute_common_name", "ldap_attribute_common_name"),
            ("attribute_email", "ldap_attribute_email"),
        ],
    ),
];

/// The section keys that hold lists, for the variables' `a,b` parsing.
pub const LIST_KEYS: &[&str] = &["storage.roots", "integrations.proxy_allowed_hosts"];

/// A source whose section keys are rewritten to the flat keys (see the module).
#[derive(Debug, Clone)]
pub struct Sectioned<S>(pub S);

impl<S: Source + Clone + Send + Sync + 'static> Source for Sectioned<S> {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, ConfigError> {
        let mut map = self.0.collect()?;
        flatten(&mut map)?;
        Ok(map)
    }
}

fn flat_key(section: &str, key: &str) -> Result<&'static str, ConfigError> {
    let (_, keys) = SECTIONS
        .iter()
        .find(|(s, _)| *s == section)
        .expect("called with a known section");
    keys.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, flat)| *flat)
        .ok_or_else(|| {
            let known: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
            ConfigError::Message(format!(
                "unknown setting `[{section}] {key}`; that section has: {}",
                known.join(", ")
            ))
        })
}

/// Rewrites `{section: {key: v}}` and `{"section.key": v}` to `{flat: v}`.
fn flatten(map: &mut Map<String, Value>) -> Result<(), ConfigError> {
    let mut found: Vec<(String, String, Value)> = Vec::new();
    for (section, _) in SECTIONS {
        if let Some(v) = map.remove(*section) {
            match v.kind {
                ValueKind::Table(t) => {
                    found.extend(t.into_iter().map(|(k, v)| (section.to_string(), k, v)))
                }
                _ => {
                    return Err(ConfigError::Message(format!(
                        "`{section}` must be a section ([{section}]), not a value"
                    )))
                }
            }
        }
        let prefix = format!("{section}.");
        let dotted: Vec<String> = map
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for k in dotted {
            let v = map.remove(&k).expect("listed above");
            found.push((section.to_string(), k[prefix.len()..].to_string(), v));
        }
    }
    for (section, key, value) in found {
        let flat = flat_key(&section, &key)?;
        if map.contains_key(flat) {
            return Err(ConfigError::Message(format!(
                "`[{section}] {key}` and `{flat}` are the same setting: give one of them"
            )));
        }
        map.insert(flat.to_string(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;

    /// A non-default TOML value for every sectioned key.
    const SAMPLES: &[(&str, &str)] = &[
        ("listen", "\"127.0.0.1:7000\""),
        ("url", "\"https://qa.example.com\""),
        ("workers", "3"),
        ("webapp_dir", "\"/srv/webapp\""),
        ("secret_key", "\"0123456789abcdef0123456789abcdef\""),
        ("body_limit", "2048"),
        ("body_memory", "999999999"),
        ("body_memory_wait_secs", "3"),
        ("body_timeout_secs", "7"),
        ("client_request_timeout_secs", "8"),
        ("keep_alive_secs", "9"),
        ("max_connections", "10"),
        ("cache_bytes", "11"),
        ("image_cache_bytes", "12"),
        ("database_url", "\"postgres://u@h/d\""),
        ("pool_size", "13"),
        ("pool_timeout_secs", "14"),
        ("db_host", "\"db.example.com\""),
        ("db_port", "5433"),
        ("db_user", "\"u\""),
        ("db_password", "\"p\""),
        ("db_name", "\"n\""),
        ("db_echo", "true"),
        ("data_dir", "\"/var/lib/qaboard\""),
        ("storage_root", "\"/mnt/other\""),
        ("storage_roots", "[\"/a\", \"/b\"]"),
        ("gc_interval", "15"),
        ("git_dir", "\"/var/git\""),
        ("gitlab_host", "\"https://gitlab.example.com\""),
        ("gitlab_access_token", "\"glpat\""),
        ("gitlab_webhook_secret", "\"hook\""),
        ("qa_command", "\"/opt/qa\""),
        ("max_jobs", "16"),
        ("job_start_wait_secs", "17"),
        ("job_time_limit_secs", "18"),
        ("gitlab_auth", "\"{}\""),
        ("jenkins_auth", "\"{}\""),
        ("proxy_allowed_hosts", "[\"h\"]"),
        ("ldap_enabled", "\"1\""),
        ("ldap_host", "\"ldap\""),
        ("ldap_port", "\"390\""),
        ("ldap_bind_dn", "\"cn=a\""),
        ("ldap_password", "\"lp\""),
        ("ldap_user_base", "\"dc=x\""),
        ("ldap_user_filter", "\"(uid={login})\""),
        ("ldap_attribute_common_name", "\"cn2\""),
        ("ldap_attribute_email", "\"mail2\""),
    ];

    fn load(toml: &str) -> Result<Settings, crate::SettingsError> {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.toml");
        std::fs::write(&f, toml).unwrap();
        Settings::load(Some(f.to_str().unwrap()))
    }

    fn sample(flat: &str) -> &'static str {
        SAMPLES
            .iter()
            .find(|(k, _)| *k == flat)
            .unwrap_or_else(|| panic!("no sample for {flat}"))
            .1
    }

    #[test]
    fn each_section_key_sets_its_flat_setting() {
        let default = format!("{:?}", Settings::default());
        let mut flat_file = String::new();
        let mut sectioned_file = String::new();
        for (section, keys) in SECTIONS {
            sectioned_file.push_str(&format!("[{section}]\n"));
            for (key, flat) in *keys {
                // The flat key is a real setting: alone, it changes the settings.
                let alone = load(&format!("{flat} = {}\n", sample(flat)))
                    .unwrap_or_else(|e| panic!("{flat}: {e}"));
                assert_ne!(format!("{alone:?}"), default, "{flat} is not a setting");
                flat_file = format!("{flat} = {}\n{flat_file}", sample(flat));
                sectioned_file.push_str(&format!("{key} = {}\n", sample(flat)));
            }
        }
        let flat = load(&flat_file).unwrap();
        let sectioned = load(&sectioned_file).unwrap();
        assert_eq!(format!("{flat:?}"), format!("{sectioned:?}"));
        assert_eq!(sectioned.database_url.as_deref(), Some("postgres://u@h/d"));
        assert_eq!(sectioned.job_start_wait_secs, 17);
        assert_eq!(sectioned.storage_roots, vec!["/a", "/b"]);
    }

    #[test]
    fn both_spellings_or_unknown_keys_are_errors() {
        let e = load("pool_size = 2\n[database]\npool_size = 3\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("`[database] pool_size` and `pool_size`"),
            "{e}"
        );
        let e = load("[database]\npoolsize = 3\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown setting `[database] poolsize`"),
            "{e}"
        );
        let e = load("server = 3\n").unwrap_err();
        assert!(e.to_string().contains("must be a section"), "{e}");
    }

    #[test]
    fn variables_beat_the_file_whichever_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.toml");
        std::fs::write(&f, "[jobs]\nmax_jobs = 2\n[storage]\nroots = [\"/f\"]\n").unwrap();
        let mut b = config::Config::builder().add_source(Sectioned(
            config::File::with_name(f.to_str().unwrap()).format(config::FileFormat::Toml),
        ));
        b = b.add_source(Sectioned(
            crate::environment().source(Some(
                [
                    ("QABOARD_MAX_JOBS".to_string(), "5".to_string()),
                    ("QABOARD_STORAGE__ROOTS".to_string(), "/x,/y".to_string()),
                ]
                .into_iter()
                .collect(),
            )),
        ));
        let s: Settings = b.build().unwrap().try_deserialize().unwrap();
        assert_eq!(s.max_jobs, 5);
        assert_eq!(s.storage_roots, vec!["/x", "/y"]);
    }
}
