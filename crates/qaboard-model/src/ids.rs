//! Typed ids of the stored records, so that an output id is never passed
//! where a batch id is expected. Integer ids are the database's serial
//! primary keys; they serialise as plain numbers (`#[serde(transparent)]`).
use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! integer_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i32);

        impl From<i32> for $name {
            fn from(id: i32) -> Self {
                $name(id)
            }
        }

        impl From<$name> for i32 {
            fn from(id: $name) -> i32 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    };
}

integer_id!(
    /// Id of a commit row (`ci_commits.id`), not its sha.
    CommitId
);
integer_id!(
    /// Id of a batch (`batches.id`).
    BatchId
);
integer_id!(
    /// Id of an output (`outputs.id`).
    OutputId
);
integer_id!(
    /// Id of a test input (`test_inputs.id`).
    TestInputId
);
integer_id!(
    /// Id of a user (`users.id`).
    UserId
);

/// Id of a project: its path, e.g. `group/repo` or `group/repo/sub/project`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProjectId(pub String);

impl ProjectId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ProjectId {
    fn from(id: &str) -> Self {
        ProjectId(id.to_string())
    }
}

impl From<String> for ProjectId {
    fn from(id: String) -> Self {
        ProjectId(id)
    }
}

impl AsRef<str> for ProjectId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialise_as_plain_values() {
        assert_eq!(serde_json::to_string(&OutputId(7)).unwrap(), "7");
        assert_eq!(serde_json::from_str::<BatchId>("3").unwrap(), BatchId(3));
        assert_eq!(
            serde_json::to_string(&ProjectId::from("g/r")).unwrap(),
            "\"g/r\""
        );
        assert_eq!("12".parse::<CommitId>().unwrap(), CommitId(12));
        assert_eq!(TestInputId(4).to_string(), "4");
    }
}
