//! Typed access to the fields of a client's JSON body, with 400 errors that
//! name the field.
use serde_json::{Map, Value};

use crate::ApiError;

/// A JSON object body.
pub struct Fields<'a>(pub &'a Map<String, Value>);

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> Fields<'a> {
    /// A required non-empty string.
    pub fn required_str(&self, key: &str) -> Result<&'a str, ApiError> {
        match self.0.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
            Some(Value::String(_)) => Err(ApiError::bad(format!("'{key}' must not be empty"))),
            None | Some(Value::Null) => Err(ApiError::bad(format!("'{key}' is required"))),
            Some(v) => Err(ApiError::bad(format!(
                "'{key}' must be a string, not {}",
                type_name(v)
            ))),
        }
    }

    /// An optional string (null and absent are `None`).
    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(ApiError::bad(format!(
                "'{key}' must be a string, not {}",
                type_name(v)
            ))),
        }
    }

    /// An optional boolean (null and absent are `None`).
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(ApiError::bad(format!(
                "'{key}' must be a boolean, not {}",
                type_name(v)
            ))),
        }
    }

    /// An optional object (null and absent are `None`).
    pub fn opt_object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(ApiError::bad(format!(
                "'{key}' must be an object, not {}",
                type_name(v)
            ))),
        }
    }

    /// An optional array (null and absent are `None`).
    pub fn opt_array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(v) => Err(ApiError::bad(format!(
                "'{key}' must be an array, not {}",
                type_name(v)
            ))),
        }
    }

    /// Any value, if present and not null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }
}

/// Checks a commit id: 1 to 255 bytes, no control characters, no leading
/// or trailing whitespace. Spaces inside are allowed: outside a git
/// repository `qa` 1.1.1 sends `<local:USER NAME>` (the user's full name),
/// see docs/robustness.md, "What the CLI sends".
pub fn check_commit_id(field: &str, sha: &str) -> Result<(), ApiError> {
    if sha.is_empty() || sha.len() > 255 || sha.chars().any(char::is_control) || sha.trim() != sha {
        return Err(ApiError::bad(format!(
            "'{field}' is not a valid commit id: expected 1 to 255 bytes, without control characters or surrounding spaces"
        )));
    }
    Ok(())
}
