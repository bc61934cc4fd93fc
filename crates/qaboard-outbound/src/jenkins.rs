//! `POST /api/v1/jenkins/build/` and `/jenkins/build/trigger/` (orig: `api/integrations.py`
//! `jenkins_build`, `jenkins_build_trigger`; OPERATIONS.md section 7).

use reqwest::header::{HeaderMap, HeaderValue, LOCATION};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{OutboundError, Result};
use crate::fetch::{Fetched, Outgoing, Policy};
use crate::guard::{normalize_host, HostRule, Reach, Refusal};
use crate::settings::JenkinsCredentials;
use crate::Outbound;

/// The trigger error when the integration has no `build_url` (the original's words, HTTP 400).
pub const MISSING_BUILD_URL_ERROR: &str =
    "ERROR: the integration is missing `build_url` (in your qaboard.yaml)";

/// A build status as the webapp reads it: `{status, allow_failure, web_url}` for builds,
/// `{status: "pending", allow_failure: false, url}` for a queue item not yet started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JenkinsStatus {
    /// `running`, `success`, `UNSTABLE`, `failed`, `NOT_BUILT`, `ABORTED`, `canceled`, `pending`.
    pub status: String,
    /// True for UNSTABLE builds (shown as warnings).
    pub allow_failure: bool,
    /// The build page, once there is a build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    /// The queue item, while the build waits in the queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The trigger body: `{build_url, params?, token?, cause?}` plus ignored integration keys
/// (`project_id`, `commit_id`, `text`...).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct JenkinsTrigger {
    /// The Jenkins job URL, e.g. `https://jenkins.example.com/job/nightly`.
    #[serde(default)]
    pub build_url: Option<String>,
    /// Build parameters; strings are sent as they are, other JSON values as JSON text.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The job's remote-trigger token (default `qaboard`, as the original).
    #[serde(default)]
    pub token: Option<String>,
    /// The build cause (default `Triggered via QA-Board`).
    #[serde(default)]
    pub cause: Option<String>,
}

impl Outbound {
    /// Status of a build or queue item. `job` is the object the webapp got earlier (from the
    /// trigger or a previous status): its `build_url` or `web_url` (a build page; `/api/json` is
    /// appended), else its `url` (a queue item or build API URL).
    ///
    /// Mapping (orig `jenkins_build`): `building` → `running`; result SUCCESS → `success`,
    /// UNSTABLE → `UNSTABLE` with `allow_failure`, FAILURE → `failed`, NOT_BUILT, ABORTED as they
    /// are, no result → `canceled`. A queue item is `pending` with its `url` until its
    /// `executable.url` names the build, whose status is then answered with `web_url` (intended
    /// fix); a cancelled queue item is `canceled`.
    ///
    /// Errors: 400 without any URL; 403 for a host without `JENKINS_AUTH` credentials (nothing is
    /// sent); 500 for an unknown result; 502/504 for upstream failures.
    pub async fn jenkins_build_status(&self, job: &serde_json::Value) -> Result<JenkinsStatus> {
        let text = |key: &str| {
            job.get(key)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let api_url = match (text("build_url").or(text("web_url")), text("url")) {
            (Some(page), _) => api_json(page),
            (None, Some(url)) => api_json(url),
            (None, None) => {
                return Err(OutboundError::BadRequest(
                    "the job has no `build_url`, `web_url` or `url`".into(),
                ))
            }
        };
        let url = parse_url(&api_url)?;
        let data = self.jenkins_json(url.clone()).await?;
        if data.get("building").is_some() {
            return build_status(&data, page_of(&api_url));
        }
        // A queue item.
        if data.get("cancelled").and_then(|c| c.as_bool()) == Some(true) {
            return Ok(JenkinsStatus {
                status: "canceled".into(),
                allow_failure: false,
                web_url: None,
                url: Some(page_of(&api_url)),
            });
        }
        let executable = data
            .get("executable")
            .and_then(|e| e.get("url"))
            .and_then(|u| u.as_str())
            .filter(|u| !u.is_empty());
        match executable {
            Some(build_page) => {
                let build_page = absolute(&url, build_page)?;
                let build = self
                    .jenkins_json(parse_url(&api_json(&build_page))?)
                    .await?;
                build_status(&build, build_page)
            }
            None => Ok(JenkinsStatus {
                status: "pending".into(),
                allow_failure: false,
                web_url: None,
                url: Some(page_of(&api_url)),
            }),
        }
    }

    /// Triggers `POST <build_url>/buildWithParameters?cause=…&<params>&token=…` with the host's
    /// credentials and answers once Jenkins has queued it (no polling, intended fix):
    /// `{"status": "pending", …queue item…, "url": <queue item, absolute>, "web_url"?: <build>}`.
    /// If the queue item cannot be read right away, the answer is `{status, url}` only.
    ///
    /// Errors: 400 [`MISSING_BUILD_URL_ERROR`]; 403 without credentials for the host; 502 when
    /// Jenkins refuses (non-2xx) or sends no `Location` (the original answered 500); 504.
    pub async fn jenkins_trigger(&self, trigger: &JenkinsTrigger) -> Result<serde_json::Value> {
        let build_url = trigger
            .build_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| OutboundError::BadRequest(MISSING_BUILD_URL_ERROR.into()))?;
        let job_url = parse_url(&format!(
            "{}/buildWithParameters",
            build_url.trim_end_matches('/')
        ))?;
        let mut url = job_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair(
                "cause",
                trigger.cause.as_deref().unwrap_or("Triggered via QA-Board"),
            );
            for (key, value) in &trigger.params {
                match value {
                    serde_json::Value::String(s) => query.append_pair(key, s),
                    other => query.append_pair(key, &other.to_string()),
                };
            }
            query.append_pair("token", trigger.token.as_deref().unwrap_or("qaboard"));
        }
        let fetched = self.jenkins_call(Method::POST, url).await?;
        if !fetched.status.is_success() {
            return Err(OutboundError::Upstream(format!(
                "Jenkins answered {} to the trigger: {}",
                fetched.status.as_u16(),
                String::from_utf8_lossy(&fetched.body[..fetched.body.len().min(500)])
            )));
        }
        let location = fetched
            .headers
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| {
                OutboundError::Upstream(
                    "ERROR: the jenkins response is missing a `location` header".into(),
                )
            })?;
        let queue_page = absolute(&job_url, location)?;
        let mut answer = serde_json::Map::new();
        answer.insert("status".into(), "pending".into());
        if let Ok(serde_json::Value::Object(item)) =
            self.jenkins_json(parse_url(&api_json(&queue_page))?).await
        {
            if let Some(build) = item
                .get("executable")
                .and_then(|e| e.get("url"))
                .and_then(|u| u.as_str())
                .and_then(|u| absolute(&job_url, u).ok())
            {
                answer.insert("web_url".into(), build.into());
            }
            for (key, value) in item {
                answer.entry(key).or_insert(value);
            }
        }
        answer.insert("url".into(), queue_page.into());
        Ok(serde_json::Value::Object(answer))
    }

    /// GET a Jenkins JSON document (2xx only).
    async fn jenkins_json(&self, url: Url) -> Result<serde_json::Value> {
        let fetched = self.jenkins_call(Method::GET, url).await?;
        if !fetched.status.is_success() {
            return Err(OutboundError::Upstream(format!(
                "Jenkins answered {} when reading the build status",
                fetched.status.as_u16()
            )));
        }
        serde_json::from_slice(&fetched.body).map_err(|_| {
            OutboundError::Upstream(
                "ERROR: malformed Jenkins response, when checking the build status".into(),
            )
        })
    }

    /// One call with the host's credentials (basic auth + `Jenkins-Crumb`), no redirects.
    async fn jenkins_call(&self, method: Method, url: Url) -> Result<Fetched> {
        let credentials = self.jenkins_credentials(&url)?;
        let mut headers = HeaderMap::new();
        if let Some(crumb) = &credentials.crumb {
            let mut value = HeaderValue::from_str(crumb.expose()).map_err(|_| {
                OutboundError::Internal("a JENKINS_AUTH crumb is not a valid header value".into())
            })?;
            value.set_sensitive(true);
            headers.insert("jenkins-crumb", value);
        }
        let limits = &self.settings.limits;
        let request = Outgoing {
            method,
            headers,
            basic_auth: Some((
                credentials.user.clone(),
                credentials.token.expose().to_owned(),
            )),
            ..Outgoing::get(url)
        };
        let policy = Policy {
            reach: Reach::Jenkins,
            timeout: limits.ci_timeout,
            max_bytes: limits.ci_max_bytes,
            follow_redirects: false,
        };
        self.fetch(request, policy, jenkins_refusal).await
    }

    /// The `JENKINS_AUTH` entry of the URL's host, else 403 (orig: "ERROR: No credentials for …").
    fn jenkins_credentials(&self, url: &Url) -> Result<&JenkinsCredentials> {
        let host = normalize_host(url.host_str().unwrap_or_default());
        let port = url.port_or_known_default().unwrap_or(0);
        self.settings
            .jenkins_auth
            .iter()
            .find(|(entry, _)| HostRule::parse(entry).is_some_and(|r| r.matches(&host, port)))
            .map(|(_, credentials)| credentials)
            .ok_or_else(|| OutboundError::Forbidden(format!("ERROR: No credentials for {host}")))
    }
}

fn jenkins_refusal(refusal: Refusal) -> OutboundError {
    match refusal {
        Refusal::BadUrl(m) => OutboundError::BadRequest(m),
        Refusal::NotAllowed(m) | Refusal::PrivateAddress(m) => OutboundError::Forbidden(m),
    }
}

/// Status of a build document (`hudson.model.Result`).
fn build_status(data: &serde_json::Value, web_url: String) -> Result<JenkinsStatus> {
    let mut allow_failure = false;
    let status = if data.get("building").and_then(|b| b.as_bool()) == Some(true) {
        "running"
    } else {
        match data.get("result").and_then(|r| r.as_str()) {
            None | Some("") => "canceled",
            Some("SUCCESS") => "success",
            Some("UNSTABLE") => {
                allow_failure = true;
                "UNSTABLE"
            }
            Some("FAILURE") => "failed",
            Some("NOT_BUILT") => "NOT_BUILT",
            Some("ABORTED") => "ABORTED",
            Some(_) => return Err(OutboundError::Internal("ERROR: unknown status".into())),
        }
    };
    Ok(JenkinsStatus {
        status: status.into(),
        allow_failure,
        web_url: Some(web_url),
        url: None,
    })
}

fn parse_url(url: &str) -> Result<Url> {
    Url::parse(url).map_err(|_| OutboundError::BadRequest(format!("not a URL: {url}")))
}

/// `<page>/api/json`, unless already there.
fn api_json(page: &str) -> String {
    let page = page.trim_end_matches('/');
    if page.ends_with("/api/json") {
        page.to_owned()
    } else {
        format!("{page}/api/json")
    }
}

/// The page of an `…/api/json` URL, with its trailing slash.
fn page_of(api_url: &str) -> String {
    let page = api_url.strip_suffix("/api/json").unwrap_or(api_url);
    format!("{}/", page.trim_end_matches('/'))
}

/// Jenkins may give relative URLs: resolve them against `base`.
fn absolute(base: &Url, url: &str) -> Result<String> {
    base.join(url)
        .map(String::from)
        .map_err(|_| OutboundError::Upstream(format!("Jenkins sent an invalid URL: {url}")))
}
