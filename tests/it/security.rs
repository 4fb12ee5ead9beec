//! Issue-12 hardening, end to end: `herald.watch` cannot run foreign SQL, least-privilege
//! roles, secrets encrypted at rest, ed25519 signatures, and the holes found by probing
//! (`HERALD_ALLOW_HTTP` at send time, no secret in the driver's log, empty variables).

mod holes;
mod roles;
mod secrets;
mod watch;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde_json::Value;

use crate::{
    app::TOKEN,
    harness::{execute_best_effort, server_url},
};

/// One call to an admin API at `addr` with the test token; answers the status and the JSON.
pub async fn api(
    addr: std::net::SocketAddr,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("authorization", format!("Bearer {TOKEN}"));
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Bytes::from(b.to_string())
        }
        None => Bytes::new(),
    };
    let res = client
        .request(req.body(Full::new(body)).expect("request"))
        .await
        .expect("request sent");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
    };
    (status, json)
}

/// A login role of its own (roles are cluster-wide: the name is unique), dropped with
/// everything granted to it when the value is dropped. Declare it after the `TestDb` it is
/// used in, so that it goes first.
pub struct TestRole {
    pub name: String,
    db_url: String,
}

impl TestRole {
    pub async fn create(db: &crate::harness::TestDb, kind: &str) -> TestRole {
        let name = format!(
            "herald_test_{kind}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        db.client()
            .await
            .batch_execute(&format!(
                "create role {name} login nosuperuser nocreatedb nocreaterole noinherit"
            ))
            .await
            .expect("create role");
        TestRole {
            name,
            db_url: db.url.clone(),
        }
    }

    /// The test database's URL, connecting as this role.
    pub fn url(&self) -> String {
        format!("{} user={}", self.db_url, self.name)
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect as {}: {e}", self.name));
        tokio::spawn(conn);
        client
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        let name = &self.name;
        execute_best_effort(vec![
            (self.db_url.clone(), format!("drop owned by {name}")),
            (
                server_url().to_owned(),
                format!("drop role if exists {name}"),
            ),
        ]);
    }
}
