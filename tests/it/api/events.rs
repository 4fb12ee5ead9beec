//! Event types and emitting events over HTTP.

use super::*;

async fn register(api: &TestApi, body: Value) -> Answer {
    api.post("/v1/event-types", body).await
}

#[tokio::test]
async fn event_types_register_list_and_refuse_scope_changes() {
    let api = TestApi::start().await;
    let described = |d: &str| json!({"name": "batch.completed", "scope": "own", "description": d});
    let a = register(&api, described("v1")).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let a = register(&api, described("v2")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["description"], "v2");
    register(
        &api,
        json!({"name": "batch.completed", "scope": "platform"}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, Some("scope"));
    register(&api, json!({"name": "bad name", "scope": "own"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("name"));
    register(&api, json!({"name": "x", "scope": "all"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("scope"));
    register(&api, json!({"name": "x"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("scope"));
    let list = api.get("/v1/event-types").await.json();
    // Besides Herald's own operational event types (herald.*).
    let names: Vec<&str> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .filter(|n| !n.starts_with("herald."))
        .collect();
    assert_eq!(names, ["batch.completed"]);
    api.stop().await;
}

#[tokio::test]
async fn events_emit_creates_deliveries() {
    let api = TestApi::with_type("batch.completed").await;
    let (user, id, _) = api.user_webhook().await;
    let resource = Uuid::new_v4();
    let a = api
        .post(
            "/v1/events",
            json!({"event_type": "batch.completed", "user_id": user,
                   "resource_id": resource, "data": {"batch": 7}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let event_id: Uuid = a.json()["id"].as_str().expect("id").parse().expect("uuid");
    let row = api
        .sql
        .query_one(
            "select webhook_id, event_id, payload from herald.webhook_deliveries",
            &[],
        )
        .await
        .expect("one delivery");
    assert_eq!(row.get::<_, Uuid>(0), id);
    assert_eq!(row.get::<_, Uuid>(1), event_id);
    assert_eq!(row.get::<_, Value>(2)["data"], json!({"batch": 7}));
    api.stop().await;
}

#[tokio::test]
async fn events_emit_refuses_bad_input_naming_the_field() {
    let api = TestApi::with_type("batch.completed").await;
    api.sql
        .execute("update herald.settings set max_payload_bytes = 100", &[])
        .await
        .expect("small payload limit");
    let user = Uuid::new_v4().to_string();
    let cases: &[(Value, StatusCode, &str)] = &[
        (
            json!({"event_type": "no.such.type", "user_id": user}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "event_type",
        ),
        (
            json!({"event_type": "batch.completed"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user_id",
        ),
        (
            json!({"event_type": "batch.completed", "user_id": user, "data": [1, 2]}),
            StatusCode::BAD_REQUEST,
            "data",
        ),
        (
            json!({"event_type": "batch.completed", "user_id": "nope"}),
            StatusCode::BAD_REQUEST,
            "user_id",
        ),
        (
            json!({"event_type": "batch.completed", "user_id": user, "resource_id": 5}),
            StatusCode::BAD_REQUEST,
            "",
        ),
        (
            json!({"event_type": "batch.completed", "user_id": user,
                   "data": {"blob": "x".repeat(200)}}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "data",
        ),
        (
            json!({"event_type": "batch.completed", "user_id": user, "extra": 1}),
            StatusCode::BAD_REQUEST,
            "extra",
        ),
    ];
    for (body, status, field) in cases {
        let a = api.post("/v1/events", body.clone()).await;
        a.assert_error(*status, (!field.is_empty()).then_some(*field));
    }
    assert_eq!(
        count(&api.sql, "select count(*) from herald.events").await,
        0
    );
    api.stop().await;
}
