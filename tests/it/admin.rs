//! [`AdminApi`]: calls to a running admin API over real HTTP with the test token, for the tests
//! that run `herald run` (in-process or as a child process) and drive it from outside.

#![allow(dead_code)]

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::app::TOKEN;

pub struct AdminApi {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl AdminApi {
    /// The API listening at `addr` (`AppHandle::api_addr`, or what a child process logged).
    pub fn at(addr: SocketAddr) -> AdminApi {
        AdminApi {
            base: format!("http://{addr}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends `body` as it is, as `application/json` when not empty; answers the status and the
    /// JSON answer (`Null` when the answer is empty or not JSON).
    pub async fn send(&self, method: Method, path: &str, body: Bytes) -> (StatusCode, Value) {
        let (status, bytes) = self.exchange(method, path, body).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Sends `body` as JSON.
    pub async fn json(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(method, path, Bytes::from(body.to_string())).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, Bytes::new()).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.json(Method::POST, path, body).await
    }

    /// A `GET` answered as text (`/metrics`).
    pub async fn text(&self, path: &str) -> String {
        let (_, bytes) = self.exchange(Method::GET, path, Bytes::new()).await;
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Registers the event type `name` and asserts that it was.
    pub async fn register_type(&self, name: &str, scope: &str) {
        let (status, body) = self
            .post("/v1/event-types", json!({"name": name, "scope": scope}))
            .await;
        assert!(status.is_success(), "register {name}: {status} {body}");
    }

    /// `POST /v1/users/{user}/webhooks`.
    pub async fn create_webhook(&self, user: Uuid, body: Value) -> (StatusCode, Value) {
        self.post(&format!("/v1/users/{user}/webhooks"), body).await
    }

    /// `POST /v1/users/{user}/webhooks/{id}/rotate-secret`.
    pub async fn rotate(&self, user: Uuid, id: &str, body: Value) -> (StatusCode, Value) {
        let path = format!("/v1/users/{user}/webhooks/{id}/rotate-secret");
        self.post(&path, body).await
    }

    async fn exchange(&self, method: Method, path: &str, body: Bytes) -> (StatusCode, Bytes) {
        let answer = self.request(method, path, Some(TOKEN), body).await;
        (answer.status, answer.body)
    }

    /// One request with `token` as the bearer (`None`: no authorization header), a body as
    /// `application/json`.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Bytes,
    ) -> Answered {
        let content_type = (!body.is_empty()).then_some("application/json");
        self.request_as(method, path, token, content_type, body)
            .await
    }

    /// Like [`AdminApi::request`], with this content type (`None`: no content-type header).
    pub async fn request_as(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Answered {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        if let Some(content_type) = content_type {
            req = req.header("content-type", content_type);
        }
        let res = self
            .client
            .request(req.body(Full::new(body)).expect("request"))
            .await
            .expect("request sent");
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        Answered {
            status,
            content_type,
            body,
        }
    }
}

/// An answer as it came.
pub struct Answered {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Bytes,
}
