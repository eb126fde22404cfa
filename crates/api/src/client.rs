//! A typed async client for the API, over HTTPS with rustls.
//!
//! The server's certificate is usually self-signed: pass its PEM with
//! [`ClientBuilder::ca_certificate_pem`] and only that certificate (not the
//! web PKI) is trusted.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::audit::AuditEntry;
use crate::auth::{
    CreateTokenRequest, CreateUserRequest, LoginRequest, LoginResponse, TokenCreated, UserView,
    WhoAmI,
};
use crate::baselines::{BaselineView, PutBaselineRequest, PutOutcome};
use crate::checkin::{CheckinRequest, CheckinResponse, WorkCancel, WorkReady};
use crate::compliance::{
    ComplianceGroupSummary, NodeComplianceDetail, NodeComplianceRow, SummaryBy,
};
use crate::enrolment::{
    CreateEnrolmentSecretRequest, EnrolRequest, EnrolResponse, EnrolmentSecretCreated,
};
use crate::error::ErrorBody;
use crate::executions::{ExecutionQuery, ExecutionView, PatchNowRequest};
use crate::governance::{GovernanceSettings, QuotasView, TaggingRuleView};
use crate::groups::PatchGroup;
use crate::nodes::{NodeView, SetTagsRequest};
use crate::routes;
use crate::windows::{PutWindowOutcome, WindowPlan, WindowSpec, WindowView};
use patchline_core::orchestration::TaggingRule;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid server address {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("the CA certificate is not valid PEM: {0}")]
    BadCertificate(reqwest::Error),
    #[error("could not build the HTTP client: {0}")]
    Build(reqwest::Error),
    #[error("{method} {path}: {source}")]
    Transport {
        method: Method,
        path: String,
        source: reqwest::Error,
    },
    /// The server answered with an error status and body.
    #[error("{method} {path}: {status}: {}", body.message)]
    Api {
        method: Method,
        path: String,
        status: StatusCode,
        body: ErrorBody,
    },
    #[error("{method} {path}: unreadable answer ({status}): {reason}")]
    Decode {
        method: Method,
        path: String,
        status: StatusCode,
        reason: String,
    },
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } | ClientError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub struct ClientBuilder {
    base_url: String,
    ca_pem: Option<Vec<u8>>,
    token: Option<String>,
    timeout: Duration,
}

impl ClientBuilder {
    /// Trusts exactly this certificate (PEM) for the server.
    pub fn ca_certificate_pem(mut self, pem: &[u8]) -> ClientBuilder {
        self.ca_pem = Some(pem.to_vec());
        self
    }

    /// Sends `Authorization: Bearer <token>` (an operator token or a node
    /// credential).
    pub fn bearer(mut self, token: impl Into<String>) -> ClientBuilder {
        self.token = Some(token.into());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.timeout = timeout;
        self
    }

    pub fn build(self) -> Result<Client, ClientError> {
        let url = url::Url::parse(&self.base_url).map_err(|e| ClientError::BadUrl {
            url: self.base_url.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(ClientError::BadUrl {
                url: self.base_url,
                reason: "the scheme must be https (or http)".into(),
            });
        }
        let mut http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(Duration::from_secs(10));
        if let Some(pem) = &self.ca_pem {
            let certificate =
                reqwest::Certificate::from_pem(pem).map_err(ClientError::BadCertificate)?;
            http = http.tls_certs_only([certificate]);
        }
        Ok(Client {
            base: self.base_url.trim_end_matches('/').to_string(),
            http: http.build().map_err(ClientError::Build)?,
            token: self.token,
        })
    }
}

/// One server, one identity. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Client {
    /// `base_url` like `https://patchline.example:8443`.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            ca_pem: None,
            token: None,
            timeout: Duration::from_secs(60),
        }
    }

    /// The same server with another bearer token.
    pub fn with_bearer(&self, token: impl Into<String>) -> Client {
        Client {
            base: self.base.clone(),
            http: self.http.clone(),
            token: Some(token.into()),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends a request and decodes a JSON answer. `path` includes the query.
    pub async fn request<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let text = self.request_text(method.clone(), path, body).await?;
        let (status, text) = text;
        serde_json::from_str(&text).map_err(|e| ClientError::Decode {
            method,
            path: path.to_string(),
            status,
            reason: e.to_string(),
        })
    }

    /// Sends a request and returns the raw answer (CSV exports, metrics).
    pub async fn request_text<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(StatusCode, String), ClientError> {
        self.send(method, path, body, None).await
    }

    /// Sends a request, with its own time limit instead of the client's
    /// when `timeout` is given (a long-poll outlasts ordinary calls).
    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        timeout: Option<Duration>,
    ) -> Result<(StatusCode, String), ClientError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let transport = |source| ClientError::Transport {
            method: method.clone(),
            path: path.to_string(),
            source,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let text = response.text().await.map_err(transport)?;
        if status.is_success() {
            return Ok((status, text));
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Api {
                method,
                path: path.to_string(),
                status,
                body,
            }),
            Err(_) => Err(ClientError::Api {
                method,
                path: path.to_string(),
                status,
                body: ErrorBody {
                    error: status.as_str().to_string(),
                    message: text.chars().take(500).collect(),
                },
            }),
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.request::<(), T>(Method::GET, path, None).await
    }

    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn put<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.request(Method::PUT, path, Some(body)).await
    }

    /// DELETE; the answer body is ignored.
    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.request_text::<()>(Method::DELETE, path, None)
            .await
            .map(|_| ())
    }

    // Typed shortcuts for the calls every client makes.

    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<LoginResponse, ClientError> {
        let body = LoginRequest {
            username: username.into(),
            password: password.into(),
        };
        self.post(routes::LOGIN, &body).await
    }

    pub async fn whoami(&self) -> Result<WhoAmI, ClientError> {
        self.get(routes::WHOAMI).await
    }

    pub async fn create_user(&self, body: &CreateUserRequest) -> Result<UserView, ClientError> {
        self.post(routes::USERS, body).await
    }

    pub async fn create_token(
        &self,
        body: &CreateTokenRequest,
    ) -> Result<TokenCreated, ClientError> {
        self.post(routes::TOKENS, body).await
    }

    pub async fn create_enrolment_secret(
        &self,
        body: &CreateEnrolmentSecretRequest,
    ) -> Result<EnrolmentSecretCreated, ClientError> {
        self.post(routes::ENROLMENT_SECRETS, body).await
    }

    pub async fn enrol(&self, body: &EnrolRequest) -> Result<EnrolResponse, ClientError> {
        self.post(routes::ENROL, body).await
    }

    pub async fn checkin(&self, body: &CheckinRequest) -> Result<CheckinResponse, ClientError> {
        self.post(routes::CHECKIN, body).await
    }

    /// Waits up to `wait` (whole seconds, at most 60) for work queued for
    /// the node (node credential): `true` as soon as there is some. The
    /// request's time limit is the wait plus a margin, whatever the
    /// client's own.
    pub async fn work_ready(&self, wait: Duration) -> Result<WorkReady, ClientError> {
        let seconds = wait.as_secs();
        let path = format!("{}?wait={seconds}", routes::WORK_READY);
        let (status, text) = self
            .send::<()>(
                Method::GET,
                &path,
                None,
                Some(wait + Duration::from_secs(15)),
            )
            .await?;
        serde_json::from_str(&text).map_err(|e| ClientError::Decode {
            method: Method::GET,
            path,
            status,
            reason: e.to_string(),
        })
    }

    /// Waits up to `wait` (whole seconds, at most 60; zero answers at
    /// once) for the server to ask that the running work item `work_id` of
    /// the node (node credential) stop. A 404: not a work item of this node.
    pub async fn work_cancel(
        &self,
        work_id: &str,
        wait: Duration,
    ) -> Result<WorkCancel, ClientError> {
        let seconds = wait.as_secs();
        let path = format!(
            "{}?wait={seconds}",
            routes::fill(routes::AGENT_WORK_CANCEL, &[work_id])
        );
        let (status, text) = self
            .send::<()>(
                Method::GET,
                &path,
                None,
                Some(wait + Duration::from_secs(15)),
            )
            .await?;
        serde_json::from_str(&text).map_err(|e| ClientError::Decode {
            method: Method::GET,
            path,
            status,
            reason: e.to_string(),
        })
    }

    pub async fn nodes(&self) -> Result<Vec<NodeView>, ClientError> {
        self.get(routes::NODES).await
    }

    pub async fn node(&self, id: &str) -> Result<NodeView, ClientError> {
        self.get(&routes::fill(routes::NODE, &[id])).await
    }

    pub async fn set_tags(&self, id: &str, body: &SetTagsRequest) -> Result<NodeView, ClientError> {
        self.put(&routes::fill(routes::NODE_TAGS, &[id]), body)
            .await
    }

    pub async fn baselines(&self) -> Result<Vec<BaselineView>, ClientError> {
        self.get(routes::BASELINES).await
    }

    pub async fn baseline(&self, name: &str) -> Result<BaselineView, ClientError> {
        self.get(&routes::fill(routes::BASELINE, &[name])).await
    }

    pub async fn put_baseline(&self, body: &PutBaselineRequest) -> Result<PutOutcome, ClientError> {
        let path = routes::fill(routes::BASELINE, &[&body.baseline.name]);
        self.put(&path, body).await
    }

    pub async fn patch_groups(&self) -> Result<Vec<PatchGroup>, ClientError> {
        self.get(routes::PATCH_GROUPS).await
    }

    pub async fn put_patch_group(&self, body: &PatchGroup) -> Result<PutOutcome, ClientError> {
        let path = routes::fill(routes::PATCH_GROUP, &[&body.name]);
        self.put(&path, body).await
    }

    pub async fn compliance_summary(
        &self,
        by: SummaryBy,
    ) -> Result<Vec<ComplianceGroupSummary>, ClientError> {
        self.get(&format!(
            "{}?by={}",
            routes::COMPLIANCE_SUMMARY,
            by.as_str()
        ))
        .await
    }

    pub async fn compliance_nodes(&self) -> Result<Vec<NodeComplianceRow>, ClientError> {
        self.get(routes::COMPLIANCE_NODES).await
    }

    pub async fn compliance_node(&self, id: &str) -> Result<NodeComplianceDetail, ClientError> {
        self.get(&routes::fill(routes::COMPLIANCE_NODE, &[id]))
            .await
    }

    pub async fn audit(&self, after: Option<i64>) -> Result<Vec<AuditEntry>, ClientError> {
        match after {
            Some(after) => self.get(&format!("{}?after={after}", routes::AUDIT)).await,
            None => self.get(routes::AUDIT).await,
        }
    }

    pub async fn windows(&self) -> Result<Vec<WindowView>, ClientError> {
        self.get(routes::WINDOWS).await
    }

    pub async fn window(&self, name: &str) -> Result<WindowView, ClientError> {
        self.get(&routes::fill(routes::WINDOW, &[name])).await
    }

    pub async fn put_window(&self, body: &WindowSpec) -> Result<PutWindowOutcome, ClientError> {
        self.put(&routes::fill(routes::WINDOW, &[&body.name]), body)
            .await
    }

    pub async fn delete_window(&self, name: &str) -> Result<(), ClientError> {
        self.delete(&routes::fill(routes::WINDOW, &[name])).await
    }

    pub async fn window_plan(&self, name: &str) -> Result<WindowPlan, ClientError> {
        self.get(&routes::fill(routes::WINDOW_PLAN, &[name])).await
    }

    pub async fn executions(
        &self,
        query: &ExecutionQuery,
    ) -> Result<Vec<ExecutionView>, ClientError> {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        if let Some(window) = &query.window {
            pairs.append_pair("window", window);
        }
        if let Some(limit) = query.limit {
            pairs.append_pair("limit", &limit.to_string());
        }
        let query = pairs.finish();
        if query.is_empty() {
            self.get(routes::EXECUTIONS).await
        } else {
            self.get(&format!("{}?{query}", routes::EXECUTIONS)).await
        }
    }

    pub async fn execution(&self, id: &str) -> Result<ExecutionView, ClientError> {
        self.get(&routes::fill(routes::EXECUTION, &[id])).await
    }

    pub async fn cancel_execution(&self, id: &str) -> Result<ExecutionView, ClientError> {
        self.post(&routes::fill(routes::EXECUTION_CANCEL, &[id]), &())
            .await
    }

    pub async fn patch_now(&self, body: &PatchNowRequest) -> Result<ExecutionView, ClientError> {
        self.post(routes::PATCH_NOW, body).await
    }

    pub async fn tagging_rules(&self) -> Result<Vec<TaggingRuleView>, ClientError> {
        self.get(routes::TAGGING_RULES).await
    }

    pub async fn put_tagging_rule(
        &self,
        rule: &TaggingRule,
    ) -> Result<TaggingRuleView, ClientError> {
        self.put(&routes::fill(routes::TAGGING_RULE, &[&rule.name]), rule)
            .await
    }

    pub async fn delete_tagging_rule(&self, name: &str) -> Result<(), ClientError> {
        self.delete(&routes::fill(routes::TAGGING_RULE, &[name]))
            .await
    }

    pub async fn governance(&self) -> Result<GovernanceSettings, ClientError> {
        self.get(routes::GOVERNANCE).await
    }

    pub async fn put_governance(
        &self,
        body: &GovernanceSettings,
    ) -> Result<GovernanceSettings, ClientError> {
        self.put(routes::GOVERNANCE, body).await
    }

    pub async fn quotas(&self) -> Result<QuotasView, ClientError> {
        self.get(routes::QUOTAS).await
    }
}
