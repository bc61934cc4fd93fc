//! Metrics aggregation, checked against numpy 2.4 (`np.median`, `np.mean`).

use qaboard_model::aggregate::*;
use serde_json::{json, Map, Value};

fn aggregate(values: &[Value]) -> Map<String, Value> {
    let mut agg = MetricsAggregator::new(["m".to_string()]);
    for v in values {
        let mut metrics = Map::new();
        metrics.insert("m".to_string(), v.clone());
        agg.push_output(&metrics);
    }
    agg.finish()
}

fn median_average(values: &[Value]) -> (f64, f64) {
    let out = aggregate(values);
    assert_eq!(out.len(), 2, "{out:?}");
    (
        out["m_median"].as_f64().unwrap(),
        out["m_average"].as_f64().unwrap(),
    )
}

fn floats(values: impl IntoIterator<Item = f64>) -> Vec<Value> {
    values.into_iter().map(Value::from).collect()
}

#[test]
fn metric_names_are_object_keys() {
    assert_eq!(
        metric_names(&json!({"psnr": true, "time": {}})),
        vec!["psnr", "time"]
    );
    assert!(metric_names(&json!(["psnr"])).is_empty());
    assert!(metric_names(&Value::Null).is_empty());
    assert!(metric_names(&json!("psnr")).is_empty());
}

#[test]
fn value_as_metric_accepts_numbers_and_booleans() {
    assert_eq!(value_as_metric(&json!(3)), Some(3.0));
    assert_eq!(value_as_metric(&json!(-2.5)), Some(-2.5));
    assert_eq!(value_as_metric(&json!(true)), Some(1.0));
    assert_eq!(value_as_metric(&json!(false)), Some(0.0));
    assert_eq!(value_as_metric(&Value::Null), None);
    assert_eq!(value_as_metric(&json!("1.5")), None);
    assert_eq!(value_as_metric(&json!([1])), None);
    assert_eq!(value_as_metric(&json!({"a": 1})), None);
}

#[test]
fn small_sets_match_numpy() {
    assert_eq!(median_average(&[json!(3), json!(1), json!(2)]), (2.0, 2.0));
    assert_eq!(
        median_average(&[json!(1), json!(2), json!(3), json!(4)]),
        (2.5, 2.5)
    );
    assert_eq!(
        median_average(&floats([0.1, 0.2, 0.3])),
        (0.2, 0.20000000000000004)
    );
    assert_eq!(
        median_average(&[json!(true), json!(false), json!(true)]),
        (1.0, 0.6666666666666666)
    );
    assert_eq!(
        median_average(&[json!(1), json!(2.5), json!(true)]),
        (1.0, 1.5)
    );
    assert_eq!(median_average(&[json!(42)]), (42.0, 42.0));
}

#[test]
fn averages_use_pairwise_summation_like_numpy() {
    // A naive left-to-right sum would give 0.09999999999999999.
    assert_eq!(median_average(&floats(vec![0.1; 10])), (0.1, 0.1));
    assert_eq!(
        median_average(&floats((0..1000).map(|i| i as f64 * 0.1))),
        (49.95, 49.95)
    );
    // Naive: 0.020942212934331673.
    assert_eq!(
        median_average(&floats((0..300).map(|i| 1.0 / (i as f64 + 1.0)))),
        (0.006644591611479029, 0.02094221293433168)
    );
    // Naive: 0.000524036410861466.
    assert_eq!(
        median_average(&floats((0..20000).map(|i| 1.0 / (i as f64 + 1.0)))),
        (9.999500049995001e-05, 0.0005240364108614663)
    );
}

#[test]
fn integer_averages_are_summed_in_numpy_buffer_chunks() {
    let ints: Vec<Value> = (0u64..20000)
        .map(|i| json!((i * 7919).pow(2) % 1_000_000_000_000_000))
        .collect();
    // Summed in one pairwise pass the average would be 459431038175093.44.
    assert_eq!(
        median_average(&ints),
        (444913644155708.5, 459431038175093.5)
    );
    let range: Vec<Value> = (0..10000).map(|i| json!(i)).collect();
    assert_eq!(median_average(&range), (4999.5, 4999.5));
}

#[test]
fn unusable_values_are_skipped_one_by_one() {
    let values = [
        json!(1),
        Value::Null,
        json!("NaN"),
        json!(3),
        json!({"a": 1}),
        json!([2]),
        json!(2),
    ];
    assert_eq!(median_average(&values), (2.0, 2.0));
    assert!(aggregate(&[Value::Null, json!("x")]).is_empty());
    assert!(aggregate(&[]).is_empty());
}

#[test]
fn push_value_skips_non_finite_values() {
    let mut agg = MetricsAggregator::new(["a".to_string(), "b".to_string()]);
    agg.push_value(0, 1.0);
    agg.push_value(0, f64::NAN);
    agg.push_value(0, f64::INFINITY);
    agg.push_value(0, 4.0);
    agg.push_value(1, f64::NAN);
    agg.push_value(7, 1.0);
    let out = agg.finish();
    assert_eq!(
        out,
        json!({"a_median": 2.5, "a_average": 2.5})
            .as_object()
            .unwrap()
            .clone()
    );
}

#[test]
fn several_metrics_and_missing_ones() {
    let mut agg = MetricsAggregator::new(metric_names(&json!({"psnr": 1, "time": 1, "absent": 1})));
    assert_eq!(
        agg.names().collect::<Vec<_>>(),
        vec!["absent", "psnr", "time"]
    );
    assert!(!agg.is_empty());
    for metrics in [
        json!({"psnr": 30, "time": 1.5}),
        json!({"psnr": 32.5}),
        json!({"psnr": 31, "time": 2.5, "other": 9}),
    ] {
        agg.push_output(metrics.as_object().unwrap());
    }
    let out = agg.finish();
    let expected = json!({
        "psnr_median": 31.0,
        "psnr_average": 31.166666666666668,
        "time_median": 2.0,
        "time_average": 2.0,
    });
    assert_eq!(Value::Object(out), expected);
}

#[test]
fn results_are_always_finite() {
    let out = aggregate(&floats([f64::MAX, f64::MAX]));
    // The sum overflows: numpy would give inf, which JSON cannot carry.
    assert!(!out.contains_key("m_average"));
    assert!(out.values().all(|v| v.as_f64().is_some_and(f64::is_finite)));
    let out = aggregate(&floats([f64::MAX]));
    assert_eq!(out["m_median"].as_f64(), Some(f64::MAX));
    assert_eq!(out["m_average"].as_f64(), Some(f64::MAX));
    assert!(MetricsAggregator::new(Vec::new()).is_empty());
}
