//! `herald deliveries` and `herald status`.

use super::*;

/// `herald deliveries recover --webhook <hook> --since <since>`, then `more`.
fn recover(db: &TestDb, hook: &str, since: &str, more: &[&str]) -> Run {
    let head = ["deliveries", "recover", "--webhook", hook, "--since", since];
    herald(db, &[&head[..], more].concat())
}

const EXHAUSTED: &str = "select count(*) from herald.webhook_deliveries where status = 'exhausted'";

#[tokio::test]
async fn cli_deliveries_list_retry_and_recover() {
    let (db, c) = TestDb::with_client().await;
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

    let recovered = recover(&db, &hook, "2020-01-01T00:00:00Z", &[]);
    assert!(
        recovered.ok().contains("re-queued 3 deliveries"),
        "{}",
        recovered.stdout
    );
    let json = recover(&db, &other, "2020-01-01T00:00:00Z", &["--json"]).json();
    assert_eq!(json["requeued"], 0);
    let before = count(&c, EXHAUSTED).await;
    recover(&db, &hook, "last week", &[]).refused("since must be an RFC 3339 time");
    assert_eq!(count(&c, EXHAUSTED).await, before);
}

#[tokio::test]
async fn cli_status_prints_the_fleet() {
    let (db, c) = TestDb::with_client().await;
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
