//! Who did a webapp write (issue 14): the record a write action of a logged-in user leaves
//! in the `data` of the closest row that survives it.
//!
//! The original backend recorded nothing; our rule (docs/users-and-integrations.md):
//! `data.last_action = {"action": <name>, "user": <user_name>, "at": <ISO-8601 UTC>}` on
//!
//! | action | row |
//! |---|---|
//! | `rename`, `move` | the batch (for a move: the destination, and the source when it stays) |
//! | `delete-output` | the output on a soft delete, else its batch |
//! | `delete-batch` | the batch, or its commit when the batch row is gone |
//! | `delete-commit-batches` | each commit |
//! | `stop` | the batch |
//! | `save-artifacts` | the commit |
//!
//! Redo and tuning record the user in each job record instead (`batch.data.server_jobs`).
//!
//! Anonymous writes (nobody logged in) record nothing, as the original.
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// The key of the record in a row's `data`.
pub const LAST_ACTION_KEY: &str = "last_action";

/// A write action done by a logged-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// What was done: one of the names in the module's table (e.g. `rename`).
    pub name: &'static str,
    /// The user's `user_name`.
    pub user: String,
    /// When, in UTC.
    pub at: DateTime<Utc>,
}

impl Action {
    /// `name` done by `user` now.
    pub fn now(name: &'static str, user: impl Into<String>) -> Action {
        Action {
            name,
            user: user.into(),
            at: Utc::now(),
        }
    }

    /// `{"action", "user", "at"}`, `at` as [`crate::time::iso_utc`].
    pub fn to_json(&self) -> Value {
        json!({
            "action": self.name,
            "user": self.user,
            "at": crate::time::iso_utc(&self.at),
        })
    }

    /// `data` with its [`LAST_ACTION_KEY`] set to this action; a `data` that is not a JSON
    /// object (legacy rows) becomes one.
    pub fn recorded_in(&self, data: Value) -> Value {
        let mut map = match data {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        map.insert(LAST_ACTION_KEY.to_string(), self.to_json());
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn recorded_in_keeps_other_keys_and_replaces_the_last_action() {
        let a = Action {
            name: "rename",
            user: "jane".into(),
            at: Utc.with_ymd_and_hms(2026, 11, 30, 3, 4, 5).unwrap(),
        };
        let data = json!({"type": "local", "last_action": {"action": "move"}});
        let out = a.recorded_in(data);
        assert_eq!(out["type"], "local");
        assert_eq!(out["last_action"]["action"], "rename");
        assert_eq!(out["last_action"]["user"], "jane");
        assert!(out["last_action"]["at"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-30T03:04:05"));
        assert_eq!(a.recorded_in(Value::Null)["last_action"]["user"], "jane");
    }
}
