//! What a batch update (`qa batch`, `qa optimize`) does to a batch's `data`,
//! and which batches a `qa optimize` iteration retires. Pure functions; the
//! database layer applies them inside its transaction.
use serde_json::{Map, Value};

use crate::rules::truthy;

/// A batch's new `data` after an update, as the original's `update_batch`:
/// the stored `data` (an object, else empty), then the batch's own config
/// (`config`) and metrics (`qatools_metrics`) when they differ from the
/// commit's `qatools_config` / `qatools_metrics`, then the posted `data`
/// keys, then the posted `command` merged into `data.commands`.
/// With `best_iteration` (see [`optimize_step`]) `best_iter` is set to it.
pub fn merged_batch_data(
    stored: &Value,
    commit_data: &Value,
    batch_config: Option<&Value>,
    batch_metrics: Option<&Value>,
    posted: &Map<String, Value>,
    command: Option<&Map<String, Value>>,
    best_iteration: Option<&Value>,
) -> Value {
    let mut data = match stored {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    if let (Some(cfg), Some(commit_cfg)) = (batch_config, commit_data.get("qatools_config")) {
        if cfg != commit_cfg {
            data.insert("config".into(), cfg.clone());
        }
    }
    if let (Some(m), Some(commit_m)) = (batch_metrics, commit_data.get("qatools_metrics")) {
        if m != commit_m {
            data.insert("qatools_metrics".into(), m.clone());
        }
    }
    for (k, v) in posted {
        data.insert(k.clone(), v.clone());
    }
    if let Some(command) = command {
        let mut commands = match data.get("commands") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        for (k, v) in command {
            commands.insert(k.clone(), v.clone());
        }
        data.insert("commands".into(), Value::Object(commands));
    }
    if let Some(it) = best_iteration {
        data.insert("best_iter".into(), it.clone());
    }
    Value::Object(data)
}

/// What one `qa optimize` batch update asks for, read from its posted `data`
/// (`optimization`, `iteration`, `is_best_iter`, `iteration_label`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OptimizeStep {
    /// This update is the best iteration so far (`is_best_iter`): the
    /// batch's outputs (except `optim_iteration` ones) are replaced.
    pub is_best: bool,
    /// With `is_best`, the posted `iteration` (when given), stored as the
    /// batch's `data.best_iter`.
    pub best_iteration: Option<Value>,
    /// With `is_best`: the label of the iteration batch whose outputs
    /// move into this batch (`None` when it is this batch itself).
    pub take_outputs_from: Option<String>,
    /// Iteration batches labelled `<label>|iter<n>` with `n` at most this are
    /// finished and removed with their outputs.
    pub retire_up_to: Option<i64>,
}

/// Reads the `qa optimize` step of a batch update labelled `label`; `None`
/// when the update is not part of an optimization.
pub fn optimize_step(label: &str, posted: &Map<String, Value>) -> Option<OptimizeStep> {
    if !truthy(posted.get("optimization")) {
        return None;
    }
    let mut step = OptimizeStep {
        retire_up_to: posted.get("iteration").and_then(Value::as_i64),
        ..OptimizeStep::default()
    };
    if truthy(posted.get("is_best_iter")) {
        step.is_best = true;
        step.best_iteration = posted.get("iteration").cloned();
        step.take_outputs_from = posted
            .get("iteration_label")
            .and_then(Value::as_str)
            .filter(|l| *l != label)
            .map(str::to_string);
    }
    Some(step)
}

/// The `LIKE` prefix (unescaped) of the iteration batches of batch `label`.
pub fn iteration_label_prefix(label: &str) -> String {
    format!("{label}|iter")
}

/// Whether the batch labelled `candidate` is an iteration batch of `label`
/// numbered at most `up_to` (and so is removed by [`OptimizeStep::retire_up_to`]).
pub fn is_retired_iteration(label: &str, candidate: &str, up_to: i64) -> bool {
    candidate
        .strip_prefix(&iteration_label_prefix(label))
        .and_then(|n| n.parse::<i64>().ok())
        .is_some_and(|n| n <= up_to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn batch_config_is_kept_only_when_it_differs_from_the_commit() {
        let commit = json!({"qatools_config": {"a": 1}, "qatools_metrics": {"m": 1}});
        let same = merged_batch_data(
            &json!({}),
            &commit,
            Some(&json!({"a": 1})),
            Some(&json!({"m": 1})),
            &Map::new(),
            None,
            None,
        );
        assert_eq!(same, json!({}));
        let other = merged_batch_data(
            &json!({"x": 1}),
            &commit,
            Some(&json!({"a": 2})),
            Some(&json!({"m": 2})),
            &obj(json!({"y": 2})),
            None,
            None,
        );
        assert_eq!(
            other,
            json!({"x": 1, "y": 2, "config": {"a": 2}, "qatools_metrics": {"m": 2}})
        );
    }

    #[test]
    fn commands_are_merged_and_best_iter_set() {
        let d = merged_batch_data(
            &json!({"commands": {"a": 1}}),
            &json!({}),
            None,
            None,
            &Map::new(),
            Some(&obj(json!({"b": 2}))),
            Some(&json!(3)),
        );
        assert_eq!(d, json!({"commands": {"a": 1, "b": 2}, "best_iter": 3}));
        // Stored data that is not an object starts over.
        let d = merged_batch_data(&json!([1]), &json!({}), None, None, &Map::new(), None, None);
        assert_eq!(d, json!({}));
    }

    #[test]
    fn optimize_steps() {
        assert_eq!(optimize_step("b", &obj(json!({"iteration": 2}))), None);
        let s = optimize_step("b", &obj(json!({"optimization": true, "iteration": 2}))).unwrap();
        assert_eq!(
            s,
            OptimizeStep {
                retire_up_to: Some(2),
                ..Default::default()
            }
        );
        let s = optimize_step(
            "b",
            &obj(json!({"optimization": 1, "iteration": 3, "is_best_iter": true, "iteration_label": "b|iter3"})),
        )
        .unwrap();
        assert_eq!(s.best_iteration, Some(json!(3)));
        assert_eq!(s.take_outputs_from.as_deref(), Some("b|iter3"));
        let s = optimize_step(
            "b",
            &obj(json!({"optimization": 1, "is_best_iter": true, "iteration_label": "b"})),
        )
        .unwrap();
        assert!(s.is_best);
        assert_eq!(s.best_iteration, None);
        assert_eq!(s.take_outputs_from, None);
        assert_eq!(s.retire_up_to, None);
    }

    #[test]
    fn retired_iterations() {
        assert!(is_retired_iteration("b", "b|iter1", 2));
        assert!(is_retired_iteration("b", "b|iter2", 2));
        assert!(!is_retired_iteration("b", "b|iter3", 2));
        assert!(!is_retired_iteration("b", "b|iterx", 2));
        assert!(!is_retired_iteration("b", "c|iter1", 2));
    }
}
