//! `herald event-types` and `herald events`.

use super::*;

/// `herald event-types register <name> --scope <scope>`, then `more`.
fn register(db: &TestDb, name: &str, scope: &str, more: &[&str]) -> Run {
    let head = ["event-types", "register", name, "--scope", scope];
    herald(db, &[&head[..], more].concat())
}

/// `herald events emit order.created --user <user> --data <data>`, then `more`.
fn emit(db: &TestDb, user: &str, data: &str, more: &[&str]) -> Run {
    let head = [
        "events",
        "emit",
        "order.created",
        "--user",
        user,
        "--data",
        data,
    ];
    herald(db, &[&head[..], more].concat())
}

#[tokio::test]
async fn cli_event_types_and_events_emit() {
    let (db, c) = TestDb::with_client().await;
    let reg = register(&db, "order.created", "own", &["--description", "An order"]);
    assert!(
        reg.ok()
            .contains("registered event type order.created (own)"),
        "{}",
        reg.stdout
    );
    let json = register(&db, "ops.notice", "platform", &["--json"]).json();
    assert_eq!(json["scope"], "platform");
    register(&db, "bad name", "own", &[]).refused("is not an event type name");
    register(&db, "order.paid", "mine", &[]).refused("scope must be \"own\" or \"platform\"");
    register(&db, "order.created", "platform", &[]).refused("scopes cannot change");
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
            && text
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
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
    let emitted = emit(&db, &user, r#"{"total": 42}"#, &[]);
    assert!(
        emitted.ok().starts_with("emitted event "),
        "{}",
        emitted.stdout
    );
    let json = emit(&db, &user, "{}", &["--json"]).json();
    assert!(json["id"]
        .as_str()
        .is_some_and(|id| id.parse::<Uuid>().is_ok()));
    assert_eq!(
        count(&c, "select count(*) from herald.webhook_deliveries").await,
        2
    );
    emit(&db, &user, r#"{"a": "\u0000"}"#, &[])
        .refused("data.a: text may not contain the NUL character");
    emit(&db, &user, "[1]", &[]).refused("data must be a JSON object");
    herald(&db, &["events", "emit", "order.created", "--data", "{}"]).refused("user_id");
    herald(
        &db,
        &["events", "emit", "no.such", "--user", &user, "--data", "{}"],
    )
    .refused("event_type");
    emit(&db, &user, "{nope", &[]).refused("data: not JSON");
    assert_eq!(count(&c, "select count(*) from herald.events").await, 2);
}
