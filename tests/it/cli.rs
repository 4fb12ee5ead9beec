//! The operator commands against a real database: for each, its table, its `--json` (the
//! API's shape), and one bad input (a clear message on stderr, exit status 1, nothing
//! written).

use std::process::Command;

use serde_json::Value;
use uuid::Uuid;

use crate::{
    app::{event_type, webhook_for},
    harness::{count, TestDb},
};

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

async fn webhooks_count(c: &tokio_postgres::Client) -> i64 {
    count(c, "select count(*) from herald.user_webhooks").await
}

#[tokio::test]
async fn cli_webhooks_create_list_and_get_print_tables_and_json() {
    let db = TestDb::new().await;
    let c = db.client().await;
    event_type(&c, "order.created", "own").await;
    let user = Uuid::new_v4().to_string();
    let created = herald(
        &db,
        &[
            "webhooks",
            "create",
            "--user",
            &user,
            "--url",
            "https://example.com/a",
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
    let created = herald(
        &db,
        &[
            "webhooks",
            "create",
            "--user",
            &user,
            "--url",
            "https://example.com/b",
            "--json",
        ],
    )
    .json();
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
    herald(
        &db,
        &[
            "webhooks",
            "create",
            "--user",
            &user,
            "--url",
            "ftp://example.com/",
        ],
    )
    .refused("url: must use http or https");
    herald(
        &db,
        &[
            "webhooks",
            "create",
            "--user",
            &user,
            "--url",
            "https://example.com/",
            "--event-types",
            "nope.never",
        ],
    )
    .refused("event_types: unknown event type \"nope.never\"");
    herald(
        &db,
        &[
            "webhooks",
            "create",
            "--user",
            "not-a-uuid",
            "--url",
            "https://example.com/",
        ],
    )
    .refused("user_id is not a UUID");
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
    let db = TestDb::new().await;
    let c = db.client().await;
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
    let url: String = c
        .query_one(
            "select url from herald.user_webhooks where id = $1::text::uuid",
            &[&id],
        )
        .await
        .expect("row")
        .get(0);
    assert_eq!(url, "https://example.com/a", "nothing written");

    let secret_before: String = c
        .query_one(
            "select secret from herald.user_webhooks where id = $1::text::uuid",
            &[&id],
        )
        .await
        .expect("row")
        .get(0);
    herald(&db, &["webhooks", "rotate-secret", &id, "--grace", "60d"]).refused("grace_seconds");
    herald(&db, &["webhooks", "rotate-secret", &id, "--grace", "soon"]).refused("grace:");
    let secret_now: String = c
        .query_one(
            "select secret from herald.user_webhooks where id = $1::text::uuid",
            &[&id],
        )
        .await
        .expect("row")
        .get(0);
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

#[tokio::test]
async fn cli_event_types_and_events_emit() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let reg = herald(
        &db,
        &[
            "event-types",
            "register",
            "order.created",
            "--scope",
            "own",
            "--description",
            "An order",
        ],
    );
    assert!(
        reg.ok()
            .contains("registered event type order.created (own)"),
        "{}",
        reg.stdout
    );
    let json = herald(
        &db,
        &[
            "event-types",
            "register",
            "ops.notice",
            "--scope",
            "platform",
            "--json",
        ],
    )
    .json();
    assert_eq!(json["scope"], "platform");
    herald(
        &db,
        &["event-types", "register", "bad name", "--scope", "own"],
    )
    .refused("is not an event type name");
    herald(
        &db,
        &["event-types", "register", "order.paid", "--scope", "mine"],
    )
    .refused("scope must be \"own\" or \"platform\"");
    herald(
        &db,
        &[
            "event-types",
            "register",
            "order.created",
            "--scope",
            "platform",
        ],
    )
    .refused("scopes cannot change");
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.event_types where name not like 'herald.%'"
        )
        .await,
        2
    );

    let list = herald(&db, &["event-types", "list"]);
    let text = list.ok();
    assert!(
        text.starts_with("NAME")
            && text.lines().any(|l| l.starts_with("order.created ")
                && l.split_whitespace().collect::<Vec<_>>()
                    == ["order.created", "own", "An", "order"]),
        "{text}"
    );
    // Besides Herald's four operational event types.
    let json = herald(&db, &["event-types", "list", "--json"]).json();
    assert_eq!(json["data"].as_array().map(Vec::len), Some(2 + 4));
    // event-types list has no input; its bad input is a bad database.
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["event-types", "list"])
        .env_clear()
        .env("DATABASE_URL", "not a url at all")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));

    let user = Uuid::new_v4();
    webhook_for(&c, user, "https://example.com/a").await;
    let user = user.to_string();
    let emitted = herald(
        &db,
        &[
            "events",
            "emit",
            "order.created",
            "--user",
            &user,
            "--data",
            r#"{"total": 42}"#,
        ],
    );
    assert!(
        emitted.ok().starts_with("emitted event "),
        "{}",
        emitted.stdout
    );
    let json = herald(
        &db,
        &[
            "events",
            "emit",
            "order.created",
            "--user",
            &user,
            "--data",
            "{}",
            "--json",
        ],
    )
    .json();
    assert!(json["id"]
        .as_str()
        .is_some_and(|id| id.parse::<Uuid>().is_ok()));
    assert_eq!(
        count(&c, "select count(*) from herald.webhook_deliveries").await,
        2
    );
    herald(
        &db,
        &[
            "events",
            "emit",
            "order.created",
            "--user",
            &user,
            "--data",
            r#"{"a": "\u0000"}"#,
        ],
    )
    .refused("data.a: text may not contain the NUL character");
    herald(
        &db,
        &[
            "events",
            "emit",
            "order.created",
            "--user",
            &user,
            "--data",
            "[1]",
        ],
    )
    .refused("data must be a JSON object");
    herald(&db, &["events", "emit", "order.created", "--data", "{}"]).refused("user_id");
    herald(
        &db,
        &["events", "emit", "no.such", "--user", &user, "--data", "{}"],
    )
    .refused("event_type");
    herald(
        &db,
        &[
            "events",
            "emit",
            "order.created",
            "--user",
            &user,
            "--data",
            "{nope",
        ],
    )
    .refused("data: not JSON");
    assert_eq!(count(&c, "select count(*) from herald.events").await, 2);
}

#[tokio::test]
async fn cli_deliveries_list_retry_and_recover() {
    let db = TestDb::new().await;
    let c = db.client().await;
    event_type(&c, "order.created", "own").await;
    let user = Uuid::new_v4();
    let (_, hook, _) = webhook_for(&c, user, "https://example.com/a").await;
    let (_, other, _) = webhook_for(&c, user, "https://example.com/b").await;
    crate::app::emit_many(&c, "order.created", user, 3).await;
    c.execute(
        "with exhausted as (
             update herald.deliveries set status = 'exhausted', attempt_count = 7,
                    last_error = 'HTTP 500'
              where webhook_id = $1
             returning id)
         delete from herald.queue q using exhausted e where q.delivery_id = e.id",
        &[&hook],
    )
    .await
    .expect("exhaust");
    let (user, hook, other) = (user.to_string(), hook.to_string(), other.to_string());

    let all = herald(&db, &["deliveries", "list", "--user", &user]);
    let text = all.ok();
    assert!(text.starts_with("ID") && text.contains("STATUS"), "{text}");
    assert_eq!(text.lines().count(), 7, "3 events x 2 webhooks: {text}");
    let exhausted = herald(
        &db,
        &[
            "deliveries",
            "list",
            "--user",
            &user,
            "--webhook",
            &hook,
            "--status",
            "exhausted",
            "--json",
        ],
    )
    .json();
    let rows = exhausted["data"].as_array().expect("data");
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|d| d["status"] == "exhausted" && d["attempts"].is_array()));
    assert!(exhausted.get("next_cursor").is_some());
    herald(
        &db,
        &["deliveries", "list", "--user", &user, "--status", "lost"],
    )
    .refused("status \"lost\" is not one of");
    herald(
        &db,
        &[
            "deliveries",
            "list",
            "--user",
            &user,
            "--since",
            "yesterday",
        ],
    )
    .refused("since must be an RFC 3339 time");

    let id = rows[0]["id"].as_str().expect("id").to_owned();
    let retried = herald(&db, &["deliveries", "retry", &id]);
    assert!(
        retried
            .ok()
            .contains("is due now (status failed, 7 attempts so far)"),
        "{}",
        retried.stdout
    );
    let json = herald(&db, &["deliveries", "retry", &id, "--json"]).json();
    assert_eq!(json["status"], "failed");
    herald(&db, &["deliveries", "retry", &Uuid::new_v4().to_string()])
        .refused("delivery not found");
    herald(&db, &["deliveries", "retry", "nope"]).refused("delivery_id is not a UUID");

    let recovered = herald(
        &db,
        &[
            "deliveries",
            "recover",
            "--webhook",
            &hook,
            "--since",
            "2020-01-01T00:00:00Z",
        ],
    );
    assert!(
        recovered.ok().contains("re-queued 3 deliveries"),
        "{}",
        recovered.stdout
    );
    let json = herald(
        &db,
        &[
            "deliveries",
            "recover",
            "--webhook",
            &other,
            "--since",
            "2020-01-01T00:00:00Z",
            "--json",
        ],
    )
    .json();
    assert_eq!(json["requeued"], 0);
    let before = count(
        &c,
        "select count(*) from herald.webhook_deliveries where status = 'exhausted'",
    )
    .await;
    herald(
        &db,
        &[
            "deliveries",
            "recover",
            "--webhook",
            &hook,
            "--since",
            "last week",
        ],
    )
    .refused("since must be an RFC 3339 time");
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.webhook_deliveries where status = 'exhausted'"
        )
        .await,
        before
    );
}

#[tokio::test]
async fn cli_status_prints_the_fleet() {
    let db = TestDb::new().await;
    let c = db.client().await;
    c.batch_execute(
        "insert into herald.replicas (worker_id, host, version, started_at, last_seen_at)
         values ('00000000-0000-0000-0000-0000000000aa', 'box-1', '0.1.0', now(), now());
         insert into herald.queue_snapshot (status, deliveries, taken_at)
         values ('pending', 5, now()), ('failed', 1, now()), ('delivered', 9, now()),
                ('exhausted', 2, now())",
    )
    .await
    .expect("fleet rows");
    let status = herald(&db, &["status"]);
    let text = status.ok();
    assert!(
        text.contains("00000000-0000-0000-0000-0000000000aa") && text.contains("box-1"),
        "{text}"
    );
    assert!(
        text.contains("pending 5, failed 1, delivered 9, exhausted 2"),
        "{text}"
    );
    assert!(text.contains("deliveries/s"), "{text}");
    let json = herald(&db, &["status", "--json"]).json();
    assert_eq!(json["queue"]["by_status"]["pending"], 5);
    assert_eq!(json["replicas"][0]["host"], "box-1");
    // Bad input: no database to read.
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["status"])
        .env_clear()
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL: not set"));
    // Usage errors exit 2.
    assert_eq!(herald(&db, &["status", "--colour"]).code, 2);
    assert_eq!(
        herald(&db, &["webhooks", "create", "--url", "https://x/"]).code,
        2
    );
}
