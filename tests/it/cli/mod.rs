//! The operator commands against a real database: for each, its table, its `--json` (the
//! API's shape), and one bad input (a clear message on stderr, exit status 1, nothing
//! written).

use std::process::Command;

use serde_json::Value;
use uuid::Uuid;

use crate::{
    app::{event_type, webhook_for},
    harness::{count, value, TestDb},
};

mod deliveries;
mod events;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// Exit 1 with `herald: <message containing want>` on stderr.
    fn refused(&self, want: &str) {
        assert_eq!(
            self.code, 1,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert!(self.stderr.starts_with("herald: "), "{}", self.stderr);
        assert!(
            self.stderr.contains(want),
            "wanted {want:?} in {}",
            self.stderr
        );
        assert!(self.stdout.is_empty(), "{}", self.stdout);
    }
}

fn herald(db: &TestDb, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run herald");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `herald webhooks create --user <user> --url <url>`, then `more`.
fn create(db: &TestDb, user: &str, url: &str, more: &[&str]) -> Run {
    let head = ["webhooks", "create", "--user", user, "--url", url];
    herald(db, &[&head[..], more].concat())
}

/// One column of the webhook `id` (its text form).
async fn column(c: &tokio_postgres::Client, name: &str, id: &str) -> String {
    let sql = format!("select {name} from herald.user_webhooks where id = $1::text::uuid");
    value(c, &sql, &[&id]).await
}

async fn webhooks_count(c: &tokio_postgres::Client) -> i64 {
    count(c, "select count(*) from herald.user_webhooks").await
}

#[tokio::test]
async fn cli_webhooks_create_list_and_get_print_tables_and_json() {
    let (db, c) = TestDb::with_client().await;
    event_type(&c, "order.created", "own").await;
    let user = Uuid::new_v4().to_string();
    let created = create(
        &db,
        &user,
        "https://example.com/a",
        &[
            "--event-types",
            "order.created",
            "--description",
            "shop <b>",
        ],
    );
    let text = created.ok();
    assert!(
        text.contains("SECRET:") && text.contains("whsec_"),
        "{text}"
    );
    let created = create(&db, &user, "https://example.com/b", &["--json"]).json();
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(created["secret"]
        .as_str()
        .is_some_and(|s| s.starts_with("whsec_")));

    let list = herald(&db, &["webhooks", "list", "--user", &user]);
    let text = list.ok();
    let header = text.lines().next().expect("header");
    for col in [
        "ID",
        "URL",
        "SCOPE",
        "ENABLED",
        "BREAKER",
        "FAILURES",
        "EVENT TYPES",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(
        text.contains("https://example.com/a") && text.contains(&id),
        "{text}"
    );
    assert_eq!(text.lines().count(), 3, "{text}");
    let json = herald(&db, &["webhooks", "list", "--user", &user, "--json"]).json();
    assert_eq!(json["data"].as_array().map(Vec::len), Some(2));
    assert!(!list.stdout.contains("whsec_"), "no secret in a listing");

    let get = herald(&db, &["webhooks", "get", &id]);
    assert!(get.ok().contains("https://example.com/b"), "{}", get.stdout);
    assert!(get.stdout.contains("USER:"), "{}", get.stdout);
    let json = herald(&db, &["webhooks", "get", &id, "--user", &user, "--json"]).json();
    assert_eq!(json["id"], id.as_str());

    // Bad input: the API's messages, exit 1, nothing written.
    let before = webhooks_count(&c).await;
    create(&db, &user, "ftp://example.com/", &[]).refused("url: must use http or https");
    create(
        &db,
        &user,
        "https://example.com/",
        &["--event-types", "nope.never"],
    )
    .refused("event_types: unknown event type \"nope.never\"");
    create(&db, "not-a-uuid", "https://example.com/", &[]).refused("user_id is not a UUID");
    assert_eq!(webhooks_count(&c).await, before);
    herald(&db, &["webhooks", "list", "--user", "x"]).refused("user_id is not a UUID");
    herald(&db, &["webhooks", "get", &Uuid::new_v4().to_string()]).refused("webhook not found");
    herald(
        &db,
        &[
            "webhooks",
            "get",
            &id,
            "--user",
            &Uuid::new_v4().to_string(),
        ],
    )
    .refused("webhook not found");
}

#[tokio::test]
async fn cli_webhooks_update_delete_and_rotate_secret() {
    let (db, c) = TestDb::with_client().await;
    let user = Uuid::new_v4();
    let (_, id, _) = webhook_for(&c, user, "https://example.com/a").await;
    let id = id.to_string();

    let updated = herald(
        &db,
        &[
            "webhooks",
            "update",
            &id,
            "--disable",
            "--description",
            "paused",
        ],
    );
    let text = updated.ok();
    assert!(
        text.contains("ENABLED:") && text.contains("false") && text.contains("paused"),
        "{text}"
    );
    let json = herald(&db, &["webhooks", "update", &id, "--enable", "--json"]).json();
    assert_eq!(json["enabled"], true);
    assert_eq!(json["description"], "paused");
    herald(
        &db,
        &[
            "webhooks",
            "update",
            &id,
            "--url",
            "https://user:pw@example.com/",
        ],
    )
    .refused("url:");
    let url = column(&c, "url", &id).await;
    assert_eq!(url, "https://example.com/a", "nothing written");

    let secret_before = column(&c, "secret", &id).await;
    herald(&db, &["webhooks", "rotate-secret", &id, "--grace", "60d"]).refused("grace_seconds");
    herald(&db, &["webhooks", "rotate-secret", &id, "--grace", "soon"]).refused("grace:");
    let secret_now = column(&c, "secret", &id).await;
    assert_eq!(
        secret_before, secret_now,
        "a refused rotation writes nothing"
    );
    let rotated = herald(&db, &["webhooks", "rotate-secret", &id, "--grace", "1h"]);
    assert!(
        rotated.ok().contains("SECRET:") && rotated.stdout.contains("whsec_"),
        "{}",
        rotated.stdout
    );
    let json = herald(&db, &["webhooks", "rotate-secret", &id, "--json"]).json();
    assert!(json["secret"]
        .as_str()
        .is_some_and(|s| s.starts_with("whsec_")));
    assert!(json["previous_secret_expires_at"].is_string());

    herald(&db, &["webhooks", "delete", "not-a-uuid"]).refused("webhook_id is not a UUID");
    assert_eq!(webhooks_count(&c).await, 1);
    let deleted = herald(&db, &["webhooks", "delete", &id]);
    assert!(
        deleted.ok().contains(&format!("deleted webhook {id}")),
        "{}",
        deleted.stdout
    );
    assert_eq!(webhooks_count(&c).await, 0);
    let (_, other, _) = webhook_for(&c, user, "https://example.com/b").await;
    let json = herald(&db, &["webhooks", "delete", &other.to_string(), "--json"]).json();
    assert_eq!(json["deleted"], other.to_string());
    herald(&db, &["webhooks", "delete", &id]).refused("webhook not found");
}
