//! The auto-ROI finder against blobs computed by scikit-image 0.18.3 (tests/data/README.md).

use std::path::PathBuf;

use qaboard_images::decode::decode_file;
use qaboard_images::rois::{find_auto_rois, AutoRoiParams};
use serde_json::Value;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn blobs_match_scikit_image_0_18_3() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(data("expected.json")).unwrap()).unwrap();
    assert_eq!(expected["scikit_image"], "0.18.3");
    let cases = expected["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let open = |key: &str| {
            decode_file(std::fs::File::open(data(case[key].as_str().unwrap())).unwrap())
                .unwrap()
                .image
        };
        let (new, reference) = (open("new"), open("ref"));
        let params = AutoRoiParams {
            threshold: case["threshold"].as_f64().unwrap(),
            diameter: case["diameter"].as_f64().unwrap(),
            count: case["count"].as_u64().unwrap() as usize,
        };
        let got = find_auto_rois(&new, &reference, &params).unwrap();
        let want: Vec<[f64; 3]> = serde_json::from_value(case["blobs"].clone()).unwrap();
        // Every value is an integer pixel position or a ceil'ed radius: exact equality,
        // in scikit-image's order (decreasing DoG response).
        assert_eq!(got, want, "case {name}");
    }
}
