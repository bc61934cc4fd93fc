//! `POST /api/v1/gitlab/job/` and `/gitlab/job/play/`: GitLab CI manual jobs of a commit
//! (orig: `api/integrations.py` `gitlab_job`, `gitlab_play_manual_job`; OPERATIONS.md section 7).

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;
use serde::Deserialize;
use url::Url;

use crate::error::{OutboundError, Result};
use crate::fetch::{Fetched, Outgoing, Policy};
use crate::guard::{HostRule, Reach, Refusal};
use crate::{header_pairs, Outbound, UpstreamResponse};

/// The error of both job routes when no token is configured (the original's words, HTTP 500).
pub const MISSING_TOKEN_ERROR: &str = "Error: Missing GITLAB_ACCESS_TOKEN in environment variables";

/// Job pages fetched at most (50 jobs each).
const MAX_JOB_PAGES: u32 = 100;

/// The JSON body the webapp posts: `{gitlab_host, project_id, commit_id, job_id?, job_name}`,
/// plus the integration's other keys, ignored. `job_id` may be a number or a string.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GitlabJobBody {
    /// First three `/`-parts of `data.git.web_url`, e.g. `https://gitlab.example.com`.
    #[serde(default)]
    pub gitlab_host: Option<String>,
    /// The QA-Board project id (the webapp's guess at the GitLab project).
    #[serde(default)]
    pub project_id: Option<String>,
    /// The commit sha.
    #[serde(default)]
    pub commit_id: Option<String>,
    /// A known job id (from an earlier answer), skipping the name search.
    #[serde(default, deserialize_with = "string_or_number")]
    pub job_id: Option<String>,
    /// The job name to look for in the commit's last pipeline.
    #[serde(default)]
    pub job_name: Option<String>,
}

/// A validated job request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitlabJobQuery {
    /// The client's `gitlab_host`; when set it must be the configured `GITLAB_HOST` (same scheme,
    /// host and port) or the call is refused with 403 before anything is sent.
    pub gitlab_host: Option<String>,
    /// GitLab project path, e.g. `group/repo` (from `data.git.path_with_namespace`; sub-projects
    /// of a QA-Board project are not GitLab paths). Sent URL-encoded.
    pub project_path: String,
    /// The commit sha.
    pub commit_id: String,
    /// Use this job instead of searching by name (`job` route only).
    pub job_id: Option<String>,
    /// Job name to search for.
    pub job_name: Option<String>,
}

impl GitlabJobBody {
    /// Validates the body. `project_path` is the project's `data.git.path_with_namespace` when
    /// known (intended fix); otherwise the body's `project_id` is used, as the original did.
    ///
    /// Errors: [`OutboundError::BadRequest`] when the project, the commit, or both `job_id` and
    /// `job_name` are missing.
    pub fn into_query(self, project_path: Option<String>) -> Result<GitlabJobQuery> {
        let missing = |what: &str| OutboundError::BadRequest(format!("missing `{what}`"));
        let project_path = project_path
            .or(self.project_id)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| missing("project_id"))?;
        let commit_id = self
            .commit_id
            .filter(|c| !c.is_empty())
            .ok_or_else(|| missing("commit_id"))?;
        if self.job_id.is_none() && self.job_name.is_none() {
            return Err(missing("job_name"));
        }
        Ok(GitlabJobQuery {
            gitlab_host: self.gitlab_host,
            project_path,
            commit_id,
            job_id: self.job_id,
            job_name: self.job_name,
        })
    }
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

impl Outbound {
    /// `POST /api/v1/gitlab/job/`: the job `job_id`, else the NEWEST job named `job_name` in the
    /// commit's last pipeline (intended fix: the original took the oldest). Answers GitLab's
    /// status and JSON body verbatim (the webapp reads `status`, `allow_failure`, `web_url`, `id`).
    ///
    /// Errors: 500 [`MISSING_TOKEN_ERROR`]; 403 for another `gitlab_host`; 404 when GitLab knows no
    /// such commit, the commit has no pipeline, or no job has that name ("Only these jobs are
    /// available: …"); 502/504 for upstream failures.
    pub async fn gitlab_job(&self, query: &GitlabJobQuery) -> Result<UpstreamResponse> {
        let api = self.gitlab_api(query)?;
        let job_id = match &query.job_id {
            Some(id) => id.clone(),
            None => self.find_job(&api, query).await?,
        };
        let url = api.url(&["projects", &query.project_path, "jobs", &job_id]);
        let fetched = api.send(self, Method::GET, url).await?;
        Ok(verbatim(fetched))
    }

    /// `POST /api/v1/gitlab/job/play/`: plays the newest job named `job_name` in the commit's last
    /// pipeline (`POST /projects/:id/jobs/:job/play`) and answers GitLab's status and body
    /// verbatim. `job_id` is ignored, as in the original. Errors as [`Outbound::gitlab_job`].
    pub async fn gitlab_play_job(&self, query: &GitlabJobQuery) -> Result<UpstreamResponse> {
        let api = self.gitlab_api(query)?;
        let job_query = GitlabJobQuery {
            job_id: None,
            ..query.clone()
        };
        if job_query.job_name.is_none() {
            return Err(OutboundError::BadRequest("missing `job_name`".into()));
        }
        let job_id = self.find_job(&api, &job_query).await?;
        let url = api.url(&["projects", &query.project_path, "jobs", &job_id, "play"]);
        let fetched = api.send(self, Method::POST, url).await?;
        Ok(verbatim(fetched))
    }

    /// The API base on the configured host, after checking the token and the client's host.
    fn gitlab_api(&self, query: &GitlabJobQuery) -> Result<GitlabApi> {
        let token = self
            .settings
            .gitlab_access_token
            .as_ref()
            .filter(|t| !t.expose().is_empty())
            .ok_or_else(|| OutboundError::Internal(MISSING_TOKEN_ERROR.into()))?;
        let configured = self
            .settings
            .gitlab_host
            .as_deref()
            .and_then(|h| Url::parse(h).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                OutboundError::Internal("GITLAB_HOST is not an http(s) URL: no GitLab API".into())
            })?;
        if let Some(asked) = query.gitlab_host.as_deref().filter(|h| !h.is_empty()) {
            let same = Url::parse(asked).is_ok_and(|u| u.origin() == configured.origin());
            if !same {
                let shown = HostRule::parse(asked).map_or_else(|| "?".into(), |r| r.to_string());
                return Err(OutboundError::Forbidden(format!(
                    "Untrusted gitlab host: {shown}; only the configured GITLAB_HOST is used"
                )));
            }
        }
        let mut headers = HeaderMap::new();
        let mut value = HeaderValue::from_str(token.expose()).map_err(|_| {
            OutboundError::Internal("GITLAB_ACCESS_TOKEN is not a valid header value".into())
        })?;
        value.set_sensitive(true);
        headers.insert("private-token", value);
        Ok(GitlabApi {
            base: configured,
            headers,
        })
    }

    /// Commit → last pipeline → every job page (50 per page, `X-Total-Pages`, at most 100 pages)
    /// → newest job (highest id) named `job_name`.
    async fn find_job(&self, api: &GitlabApi, query: &GitlabJobQuery) -> Result<String> {
        let name = query
            .job_name
            .as_deref()
            .ok_or_else(|| OutboundError::BadRequest("missing `job_name`".into()))?;
        let project = query.project_path.as_str();
        let commit_url = api.url(&[
            "projects",
            project,
            "repository",
            "commits",
            &query.commit_id,
        ]);
        let commit = api.send(self, Method::GET, commit_url).await?;
        if commit.status.as_u16() == 404 {
            return Err(OutboundError::NotFound(format!(
                "GitLab has no commit {} in {project}",
                query.commit_id
            )));
        }
        let commit = json_of(commit, "commit")?;
        let pipeline = commit
            .get("last_pipeline")
            .and_then(|p| p.get("id"))
            .and_then(id_string)
            .ok_or_else(|| {
                OutboundError::NotFound(format!(
                    "No GitLab pipeline for commit {}",
                    query.commit_id
                ))
            })?;

        let mut jobs: Vec<serde_json::Value> = Vec::new();
        let mut page = 1;
        loop {
            let mut url = api.url(&["projects", project, "pipelines", &pipeline, "jobs"]);
            url.query_pairs_mut()
                .append_pair("page", &page.to_string())
                .append_pair("per_page", "50");
            let fetched = api.send(self, Method::GET, url).await?;
            let header = |name: &str| -> Option<u32> {
                fetched
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok())
            };
            // `X-Total-Pages` as the original; GitLab leaves it out for very large lists, then
            // `X-Next-Page` (empty on the last page) tells whether to go on.
            let more = match (header("x-total-pages"), header("x-next-page")) {
                (Some(total), _) => page < total,
                (None, Some(next)) => next > page,
                (None, None) => false,
            };
            match json_of(fetched, "jobs")? {
                serde_json::Value::Array(items) => jobs.extend(items),
                _ => return Err(OutboundError::Upstream("GitLab jobs are not a list".into())),
            }
            if !more || page >= MAX_JOB_PAGES {
                break;
            }
            page += 1;
        }
        let newest = jobs
            .iter()
            .filter(|j| j.get("name").and_then(|n| n.as_str()) == Some(name))
            .filter_map(|j| j.get("id").and_then(|id| id.as_u64()))
            .max();
        match newest {
            Some(id) => Ok(id.to_string()),
            None => {
                let mut names: Vec<&str> = jobs
                    .iter()
                    .filter_map(|j| j.get("name").and_then(|n| n.as_str()))
                    .collect();
                names.sort_unstable();
                names.dedup();
                Err(OutboundError::NotFound(format!(
                    "Only these jobs are available: {}",
                    names.join(", ")
                )))
            }
        }
    }
}

/// The configured GitLab API and the token header.
struct GitlabApi {
    base: Url,
    headers: HeaderMap,
}

impl GitlabApi {
    /// `<GITLAB_HOST>/api/v4/<segments…>`, each segment percent-encoded (`/` too, so
    /// `group/repo` becomes `group%2Frepo` as GitLab expects).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v4"]).extend(segments);
        }
        url
    }

    /// One call to the configured host: no redirects (the token must not follow one).
    async fn send(&self, outbound: &Outbound, method: Method, url: Url) -> Result<Fetched> {
        let limits = &outbound.settings.limits;
        let request = Outgoing {
            method,
            headers: self.headers.clone(),
            ..Outgoing::get(url)
        };
        let policy = Policy {
            reach: Reach::Gitlab,
            timeout: limits.ci_timeout,
            max_bytes: limits.ci_max_bytes,
            follow_redirects: false,
        };
        outbound.fetch(request, policy, gitlab_refusal).await
    }
}

fn gitlab_refusal(refusal: Refusal) -> OutboundError {
    let (Refusal::BadUrl(m) | Refusal::NotAllowed(m) | Refusal::PrivateAddress(m)) = refusal;
    OutboundError::Forbidden(m)
}

fn id_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A 2xx JSON answer, else 502 naming what was asked.
fn json_of(fetched: Fetched, what: &str) -> Result<serde_json::Value> {
    if !fetched.status.is_success() {
        return Err(OutboundError::Upstream(format!(
            "GitLab answered {} when reading the {what}",
            fetched.status.as_u16()
        )));
    }
    serde_json::from_slice(&fetched.body)
        .map_err(|_| OutboundError::Upstream(format!("GitLab sent unreadable JSON for the {what}")))
}

/// GitLab's status and body as they are, with its content type.
fn verbatim(fetched: Fetched) -> UpstreamResponse {
    UpstreamResponse {
        status: fetched.status.as_u16(),
        headers: header_pairs(&fetched.headers, |n| n == "content-type"),
        body: fetched.body,
    }
}
