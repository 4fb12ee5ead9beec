//! Issue-12 hardening, end to end: `herald.watch` cannot run foreign SQL, least-privilege
//! roles, secrets encrypted at rest, ed25519 signatures, and the holes found by probing
//! (`HERALD_ALLOW_HTTP` at send time, no secret in the driver's log, empty variables).

mod holes;
mod roles;
mod secrets;
mod watch;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::Value;

use crate::{
    admin::AdminApi,
    harness::{execute_best_effort, server_url},
};

/// One call to an admin API at `addr` with the test token; answers the status and the JSON.
pub async fn api(
    addr: std::net::SocketAddr,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let api = AdminApi::at(addr);
    match body {
        Some(body) => api.json(method, path, body).await,
        None => api.send(method, path, Bytes::new()).await,
    }
}

/// No webhook secret or signing key, by its prefix, in `text`; `place` names it ("the log").
pub fn assert_no_secret_prefix(text: &str, place: &str) {
    assert!(!text.contains("whsec_"), "a whsec_ secret in {place}");
    assert!(!text.contains("whsk_"), "a whsk_ signing key in {place}");
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
