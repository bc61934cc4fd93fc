//! `max_jobs` across server processes (issue 13): two servers sharing one
//! `data_dir` (as replicas behind a load balancer do) share the job slots,
//! on both databases. Each server has its own database here; the slots only
//! depend on the shared folder.
use std::time::{Duration, Instant};

use qaboard_tests::{spawn_app_with_settings, Client, TestDb};
use serde_json::json;

use crate::jobs::{gone, post_output, with_artifacts};

#[test]
fn max_jobs_holds_across_servers_sharing_data_dir() {
    let dbs = |backend: usize| -> Vec<TestDb> {
        match backend {
            0 => vec![TestDb::sqlite(), TestDb::sqlite()],
            _ => TestDb::postgres()
                .into_iter()
                .chain(TestDb::postgres())
                .collect(),
        }
    };
    for backend in 0..2 {
        let mut pair = dbs(backend);
        if pair.len() < 2 {
            continue;
        }
        let (env, max_jobs) = with_artifacts(1);
        let b = spawn_app_with_settings(pair.pop().unwrap(), env.settings(max_jobs));
        let a = spawn_app_with_settings(pair.pop().unwrap(), env.settings(max_jobs));
        let (ca, cb) = (Client::new(&a), Client::new(&b));
        let (id_a, batch_a) = post_output(&ca, &env, "default", "a", "1", false);
        let (id_b, _) = post_output(&cb, &env, "default", "a", "1", false);
        env.set("sleep", true);
        let r = ca.post(&format!("/api/v1/output/redo/{id_a}/"), &json!({}));
        assert_eq!(r.status, 200, "{}", r.body);
        let pid = env.runs_of(r.json()["command_id"].as_str().unwrap())[0].pid;
        // The other server has a free counter of its own, but no free slot.
        let r = cb.post(&format!("/api/v1/output/redo/{id_b}/"), &json!({}));
        assert_eq!(r.status, 429, "{}", r.body);
        assert!(r.json()["error"].is_string());
        env.set("sleep", false);
        let r = ca.put(
            &format!("/api/v1/output/{id_a}/"),
            &json!({"is_pending": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = ca.post("/api/v1/batch/stop/", &json!({"id": batch_a}));
        assert_eq!(r.status, 200, "{}", r.body);
        // Free again once the first server's reaper saw its job end.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut status = 0;
        while Instant::now() < deadline {
            status = cb
                .post(&format!("/api/v1/output/redo/{id_b}/"), &json!({}))
                .status;
            if status != 429 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(status, 200);
        assert!(gone(pid));
    }
}
