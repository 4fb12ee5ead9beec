//! Deliveries over HTTP: the paged listing with attempts, retry and recover.

use super::*;

/// Inserts `n` deliveries of `webhook`, one minute apart (newest first: index 1), in `status`.
async fn insert_deliveries(api: &TestApi, webhook: Uuid, n: i32, status: &str) {
    api.sql
        .execute(
            "with d as ( \
               insert into herald.deliveries \
                 (id, webhook_id, event_id, event_type, payload, status, attempt_count, created_at) \
               select gen_random_uuid(), $1, gen_random_uuid(), 'batch.completed', '{}'::jsonb, \
                      $3, 7, now() - i * interval '1 minute' \
                 from generate_series(1, $2) i \
               returning id, webhook_id, status) \
             insert into herald.queue (delivery_id, webhook_id, due_at) \
             select id, webhook_id, now() + interval '1 hour' from d \
              where status in ('pending', 'failed')",
            &[&webhook, &n, &status],
        )
        .await
        .expect("insert deliveries");
}

#[tokio::test]
async fn deliveries_list_pages_newest_first_with_attempts() {
    let api = TestApi::start().await;
    let (user, id, _) = api.user_webhook().await;
    insert_deliveries(&api, id, 3, "failed").await;
    insert_deliveries(&api, id, 2, "delivered").await;
    api.sql
        .execute(
            "insert into herald.delivery_attempts \
               (delivery_id, webhook_id, attempt, started_at, duration_ms, status_code) \
             select d.id, d.webhook_id, a, now(), 12.5, 500 \
               from herald.webhook_deliveries d, generate_series(1, 2) a \
              where d.status = 'failed'",
            &[],
        )
        .await
        .expect("attempts");
    let base = format!("/v1/users/{user}/webhooks/{id}/deliveries");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{base}?limit=2&cursor={c}"),
            None => format!("{base}?limit=2"),
        };
        let page = api.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let v = page.json();
        for d in v["data"].as_array().expect("data") {
            seen.push(d["created_at"].as_str().expect("created_at").to_owned());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "every delivery once");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");

    let failed = api.get(&format!("{base}?status=failed")).await.json();
    let failed = failed["data"].as_array().expect("data").clone();
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[0]["attempts"].as_array().map(Vec::len), Some(2));
    assert_eq!(failed[0]["attempts"][0]["status_code"], 500);

    api.get(&format!("{base}?status=lost"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("status"));
    api.get(&format!("{base}?limit=0"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("limit"));
    api.get(&format!("{base}?cursor=garbage"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("cursor"));
    api.get(&format!("{base}?colour=red"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("colour"));
    api.stop().await;
}

#[tokio::test]
async fn deliveries_retry_makes_one_due_now() {
    let api = TestApi::start().await;
    let (_, id, _) = api.user_webhook().await;
    insert_deliveries(&api, id, 1, "exhausted").await;
    insert_deliveries(&api, id, 1, "delivered").await;
    let exhausted: Uuid = api
        .sql
        .query_one(
            "select id from herald.webhook_deliveries where status = 'exhausted'",
            &[],
        )
        .await
        .expect("row")
        .get(0);
    let a = api
        .post(&format!("/v1/deliveries/{exhausted}/retry"), json!({}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["status"], "failed");
    assert_eq!(a.json()["attempt_count"], 7, "attempt count kept");
    assert_eq!(
        count(
            &api.sql,
            "select count(*) from herald.webhook_deliveries \
              where status = 'failed' and next_attempt_at <= now()"
        )
        .await,
        1,
        "due now"
    );

    let delivered: Uuid = api
        .sql
        .query_one(
            "select id from herald.webhook_deliveries where status = 'delivered'",
            &[],
        )
        .await
        .expect("row")
        .get(0);
    api.post(&format!("/v1/deliveries/{delivered}/retry"), json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, None);
    api.post(
        &format!("/v1/deliveries/{}/retry", Uuid::new_v4()),
        json!({}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, None);
    api.post("/v1/deliveries/123/retry", json!({}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("delivery_id"));
    api.stop().await;
}

#[tokio::test]
async fn deliveries_recover_requeues_failed_and_exhausted_since() {
    let api = TestApi::start().await;
    let (user, id, _) = api.user_webhook().await;
    insert_deliveries(&api, id, 3, "failed").await;
    insert_deliveries(&api, id, 2, "exhausted").await;
    insert_deliveries(&api, id, 2, "delivered").await;
    let path = format!("/v1/users/{user}/webhooks/{id}/recover");
    // Created 1 and 2 minutes ago qualify; 3 minutes ago does not.
    let since = (chrono::Utc::now() - chrono::Duration::seconds(150)).to_rfc3339();
    let a = api.post(&path, json!({"since": since})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["requeued"], 4);
    let due = "select count(*) from herald.webhook_deliveries \
               where status = 'failed' and next_attempt_at <= now()";
    eventually(
        "recovered rows are due",
        Duration::from_secs(60),
        || async { count(&api.sql, due).await == 4 },
    )
    .await;
    assert_eq!(
        count(
            &api.sql,
            "select count(*) from herald.webhook_deliveries where status = 'delivered'"
        )
        .await,
        2
    );
    api.post(&path, json!({"since": "yesterday"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("since"));
    api.post(&path, json!({}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("since"));
    api.stop().await;
}
