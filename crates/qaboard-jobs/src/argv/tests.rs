use super::*;
use serde_json::json;

fn redo<'a>(configs: &'a [Value], params: &'a Value, opts: &'a Value) -> RedoRun<'a> {
    RedoRun {
        label: "my label",
        configurations: configs,
        database: "/mnt/db",
        output_type: "slam/6dof",
        extra_parameters: params,
        platform: Some("linux"),
        job_options: opts,
        test_input_path: "set/clip 1.mp4",
    }
}

#[test]
fn redo_default_job_options() {
    let configs = [json!("base"), json!({"b": 2, "a": "é"})];
    let params = json!({"z": 1, "a": [1.0, 2]});
    let argv = redo_output(&redo(&configs, &params, &Value::Null));
    assert_eq!(
        argv,
        [
            "--label=my label",
            r#"--configuration=base:{"a": "\u00e9", "b": 2}"#,
            "--database=/mnt/db",
            "--type=slam/6dof",
            r#"--tuning={"a": [1.0, 2], "z": 1}"#,
            "--platform=linux",
            "batch",
            "--no-wait",
            "--lsf-max-memory=20000",
            "--action-on-existing=run",
            "--action-on-pending=run",
            "--batch=set/clip 1.mp4",
        ]
    );
    let argv = redo_output(&redo(&[], &Value::Null, &json!({})));
    assert!(argv.contains(&"--configuration=-".to_string()));
    assert!(argv.contains(&"--tuning={}".to_string()));
}

#[test]
fn redo_lsf_and_other_runners() {
    let opts = json!({"type": "lsf", "queue": "q_1", "max_memory": 0, "resources": "select[x]", "max_threads": 4});
    let argv = job_options_args(&opts);
    assert_eq!(
        argv,
        [
            "--runner=lsf",
            "--lsf-queue=q_1",
            "--lsf-resources=select[x]",
            "--lsf-threads=4"
        ]
    );
    let opts = json!({"type": "lsf", "queue": null, "max_memory": 9000, "resources": "", "max_threads": 0});
    assert_eq!(
        job_options_args(&opts),
        ["--runner=lsf", "--lsf-max-memory=9000"]
    );
    assert_eq!(
        job_options_args(&json!({"type": "local", "concurrency": 3})),
        ["--runner=local"]
    );
    assert!(job_options_args(&json!({"command_id": "x"})).is_empty());
}

#[test]
fn hostile_values_stay_single_elements() {
    let configs = [json!("a;rm -rf /"), json!("$(touch pwned)")];
    let params = json!({"k": "`id`\n'\""});
    let mut r = redo(&configs, &params, &Value::Null);
    r.label = "--help";
    r.test_input_path = "-x";
    let argv = redo_output(&r);
    assert_eq!(argv[0], "--label=--help");
    assert_eq!(argv[1], "--configuration=a;rm -rf /:$(touch pwned)");
    assert_eq!(argv[4], r#"--tuning={"k": "`id`\n'\""}"#);
    assert_eq!(argv.last().unwrap(), "--batch=-x");
    assert!(check_argv(&argv).is_ok());
    assert!(check_argv(&["--label=a\0b".to_string()]).is_err());
}

#[test]
fn tuning_grid_and_optimize() {
    let run = TuningRun {
        platform: "lsf",
        label: "tune@x",
        batches_file: Path::new("/o/b/batches-0f3c2a9e.yaml"),
        group: "smoke",
        overwrite: false,
    };
    let search =
        json!({"search_type": "grid", "search_options": {}, "parameter_search": {"p": [1, 2]}});
    assert_eq!(
        tuning_search(&run, &search),
        [
            "--platform=lsf",
            "--label=tune@x",
            "batch",
            "--batches-file=/o/b/batches-0f3c2a9e.yaml",
            "--batch=smoke",
            r#"--tuning-search={"parameter_search":{"p":[1,2]},"search_options":{},"search_type":"grid"}"#,
            "--action-on-existing=sync",
            "--no-wait",
        ]
    );
    let run = TuningRun {
        overwrite: true,
        ..run
    };
    assert_eq!(tuning_search(&run, &search)[6], "--action-on-existing=run");
    assert_eq!(
        tuning_optimize(&run, Path::new("/o/b/optim-config.yaml")),
        [
            "--platform=lsf",
            "--label=tune@x",
            "optimize",
            "--batches-file=/o/b/batches-0f3c2a9e.yaml",
            "--batch=smoke",
            "--config-file=/o/b/optim-config.yaml",
        ]
    );
}

#[test]
fn listing_and_save_artifacts() {
    let files = [
        PathBuf::from("/a/batches.yaml"),
        PathBuf::from("/shared/p/None.yml"),
    ];
    assert_eq!(
        list_group(&files, "smoke"),
        [
            "batch",
            "--batches-file=/a/batches.yaml",
            "--batches-file=/shared/p/None.yml",
            "--batch=smoke",
            "--list",
        ]
    );
    assert_eq!(
        save_artifacts(Path::new("/art/g/r/commits/abc")),
        ["save-artifacts", "--out=/art/g/r/commits/abc"]
    );
}

#[test]
fn parses_list_output() {
    let out = r#"[
  {
    "input_path": "/mnt/db/set/a.mp4",
    "database": "/mnt/db",
    "configurations": ["base", {"x": 1}],
    "platform": "linux",
    "rel_input_path": "set/a.mp4"
  }
]
"#;
    let tests = parse_list_output(out).unwrap();
    assert_eq!(
        tests,
        [ListedTest {
            input_path: "set/a.mp4".into(),
            configurations: json!(["base", {"x": 1}])
        }]
    );
    let noisy = format!("loading env [x]\n{out}");
    assert_eq!(parse_list_output(&noisy).unwrap(), tests);
    assert!(parse_list_output("[]\n").unwrap().is_empty());
    assert!(parse_list_output("note\n[]\n").unwrap().is_empty());
    assert!(parse_list_output("Traceback: boom").is_err());
    assert!(parse_list_output("{}").is_err());
    assert!(parse_list_output(r#"[{"configurations": []}]"#).is_err());
}
