//! `GET /` without `webapp_dir`: a small server-rendered page (no
//! JavaScript) so that a new user who just started the server and ran `qa`
//! sees their results: every project (most recently active first, at most
//! [`MAX_PROJECTS`]) with its latest commits ([`COMMITS_PER_PROJECT`]),
//! each batch's output counts and the mean of the project's main metrics
//! (`qatools_metrics.main_metrics`) over its valid outputs, links to the
//! commit's JSON and to its `/s/` folder, and how to attach the full webapp.
//!
//! Every name shown comes from clients and is HTML-escaped.
use std::fmt::Write;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use qaboard_db::read::{self, CommitTree, CommitWindow, ProjectSummary};
use qaboard_model::paths;
use serde_json::Value;

use crate::extract::ReadAccess;
use crate::routes::images::s_url;
use crate::state::AppState;
use crate::static_files::html_escape as esc;
use crate::{run_db, ApiError};

/// Projects shown, most recently active first.
pub const MAX_PROJECTS: usize = 50;
/// Latest commits shown per project.
pub const COMMITS_PER_PROJECT: i64 = 5;

/// Registers `GET|HEAD /` (used when no `webapp_dir` is set).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .route(web::get().to(home))
            .default_service(web::to(crate::preflight_or_405)),
    );
}

type Loaded = Vec<(ProjectSummary, Vec<String>, Vec<CommitTree>)>;

/// The project's main metrics: `data.qatools_metrics.main_metrics`.
fn main_metrics(data: &Value) -> Vec<String> {
    data.pointer("/qatools_metrics/main_metrics")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .take(8)
                .collect()
        })
        .unwrap_or_default()
}

async fn home(_: ReadAccess, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let loaded: Loaded = run_db(move || {
        let mut conn = pool.get()?;
        let mut projects = read::project_summaries(&mut conn)?;
        projects.sort_by_key(|p| std::cmp::Reverse(p.latest_output_datetime));
        projects.truncate(MAX_PROJECTS);
        let mut out = Vec::with_capacity(projects.len());
        for p in projects {
            let metrics = main_metrics(&p.data);
            let window = CommitWindow {
                project: p.id.clone(),
                branch: None,
                committer: None,
                from: DateTime::<Utc>::UNIX_EPOCH,
                to: Utc::now() + chrono::Duration::days(1),
                limit: COMMITS_PER_PROJECT,
                with_outputs: false,
                metrics: metrics.clone(),
                batch: None,
            };
            let commits = read::commits_in_window(&mut conn, &window)?;
            out.push((p, metrics, commits));
        }
        Ok(out)
    })
    .await?;
    let html = render(&loaded, &state.config.storage_root);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(html))
}

/// Mean of `name` over the metrics JSON texts of valid outputs.
fn mean(valid_metrics: &[String], name: &str) -> Option<f64> {
    let values: Vec<f64> = valid_metrics
        .iter()
        .filter_map(|t| serde_json::from_str::<Value>(t).ok())
        .filter_map(|v| v.get(name).and_then(Value::as_f64))
        .filter(|v| v.is_finite())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Percent-encodes a query value.
fn query_value(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}\
code{background:#f3f3f3;padding:0 .2em}.muted{color:#777}";

/// The page for the loaded projects (pure, tested on hostile names).
pub(crate) fn render(loaded: &Loaded, default_root: &str) -> String {
    let mut h = String::with_capacity(4096);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>QA-Board</title>\
         <style>{STYLE}</style></head>\n<body>\n<h1>QA-Board</h1>\n\
         <p class=\"muted\">This server answers the <code>qa</code> CLI and the QA-Board webapp. \
         For the full webapp, build it from the QA-Board repository and set <code>webapp_dir</code> \
         (<code>QABOARD_WEBAPP_DIR</code>) to the build folder; see the README.</p>\n"
    );
    if loaded.is_empty() {
        h.push_str("<p>No project yet: run <code>qa run</code> or <code>qa batch</code> in a project configured for this server.</p>\n");
    }
    for (p, metrics, commits) in loaded {
        let _ = write!(
            h,
            "<h2>{}</h2>\n<p class=\"muted\">{} commits",
            esc(&p.id),
            p.total_commits
        );
        if let Some(t) = p.latest_output_datetime {
            let _ = write!(h, ", latest output {} UTC", t.format("%Y-%m-%d %H:%M"));
        }
        h.push_str("</p>\n");
        if commits.is_empty() {
            continue;
        }
        h.push_str("<table>\n<tr><th>commit</th><th>branch</th><th>author</th><th>date</th><th>batch</th><th>outputs</th>");
        for m in metrics {
            let _ = write!(h, "<th>{}</th>", esc(m));
        }
        h.push_str("<th>files</th></tr>\n");
        for c in commits {
            let commit = &c.commit;
            let short: String = commit.hexsha.chars().take(8).collect();
            let json_url = format!(
                "/api/v1/commit/{}?project={}",
                query_value(&commit.hexsha),
                query_value(&p.id)
            );
            let dirs = paths::commit_paths_of(c.project.as_ref(), commit, default_root);
            let files = s_url(std::path::Path::new(&format!(
                "{}/",
                dirs.outputs_dir.trim_end_matches('/')
            )));
            let batches: Vec<_> = if c.batches.is_empty() {
                vec![None]
            } else {
                c.batches.iter().map(Some).collect()
            };
            for b in batches {
                let _ = write!(
                    h,
                    "<tr><td><a href=\"{}\"><code>{}</code></a></td><td>{}</td><td>{}</td><td>{}</td>",
                    esc(&json_url),
                    esc(&short),
                    esc(commit.branch.as_deref().unwrap_or("")),
                    esc(commit.committer_name.as_deref().unwrap_or("")),
                    commit
                        .authored_datetime
                        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_default(),
                );
                match b {
                    Some(b) => {
                        let n = b.counts;
                        let _ = write!(
                            h,
                            "<td>{}</td><td>{} ok, {} failed, {} pending ({} running)</td>",
                            esc(&b.batch.label),
                            n.valid,
                            n.failed,
                            n.pending,
                            n.running
                        );
                        for m in metrics {
                            match mean(&b.valid_metrics, m) {
                                Some(v) => {
                                    let _ = write!(h, "<td>{v:.4}</td>");
                                }
                                None => h.push_str("<td class=\"muted\">-</td>"),
                            }
                        }
                    }
                    None => {
                        h.push_str("<td class=\"muted\">-</td><td class=\"muted\">-</td>");
                        for _ in metrics {
                            h.push_str("<td class=\"muted\">-</td>");
                        }
                    }
                }
                let _ = writeln!(h, "<td><a href=\"{}\">outputs</a></td></tr>", esc(&files));
            }
        }
        h.push_str("</table>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_of_valid_metrics() {
        let m = vec![
            r#"{"a": 1, "b": "x"}"#.to_string(),
            r#"{"a": 3}"#.to_string(),
        ];
        assert_eq!(mean(&m, "a"), Some(2.0));
        assert_eq!(mean(&m, "b"), None);
        assert_eq!(
            main_metrics(&serde_json::json!({"qatools_metrics": {"main_metrics": ["a", 1]}})),
            vec!["a".to_string()]
        );
    }
}
