//! Webhooks over HTTP: create, read, update (absent vs null), delete, rotate, scope rules.

use super::*;

#[tokio::test]
async fn webhooks_crud_round_trips() {
    let api = TestApi::with_type("batch.completed").await;
    let user = Uuid::new_v4();
    let (id, secret) = api
        .create_webhook(
            user,
            json!({"url": "https://example.com/hook", "event_types": ["batch.completed"],
                   "description": "builds"}),
        )
        .await;
    assert!(secret.starts_with("whsec_"), "{secret}");

    let got = api.get(&format!("/v1/users/{user}/webhooks/{id}")).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    let v = got.json();
    assert_eq!(v["url"], "https://example.com/hook");
    assert_eq!(v["event_types"], json!(["batch.completed"]));
    assert_eq!(v["scope"], "own");
    assert_eq!(v["enabled"], true);

    let list = api.get(&format!("/v1/users/{user}/webhooks")).await.json();
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));

    let patched = api
        .patch(
            &format!("/v1/users/{user}/webhooks/{id}"),
            json!({"url": "https://example.org/new"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.json()["url"], "https://example.org/new");

    let deleted = api
        .call(
            Method::DELETE,
            &format!("/v1/users/{user}/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    api.get(&format!("/v1/users/{user}/webhooks/{id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, None);
    api.stop().await;
}

#[tokio::test]
async fn webhooks_create_refuses_invalid_input_naming_the_field() {
    let api = TestApi::with_type("batch.completed").await;
    api.register_type("tenant.created", "platform").await;
    let user = Uuid::new_v4();
    let path = format!("/v1/users/{user}/webhooks");
    let cases: &[(Value, StatusCode, &str)] = &[
        (
            hook("http://example.com/hook"),
            StatusCode::BAD_REQUEST,
            "url",
        ),
        (
            hook("https://me:pw@example.com/"),
            StatusCode::BAD_REQUEST,
            "url",
        ),
        (hook("ftp://example.com/"), StatusCode::BAD_REQUEST, "url"),
        (hook("not a url"), StatusCode::BAD_REQUEST, "url"),
        (
            hook(&format!("https://example.com/{}", "a".repeat(2100))),
            StatusCode::BAD_REQUEST,
            "url",
        ),
        (json!({}), StatusCode::BAD_REQUEST, "url"),
        (
            json!({"url": "https://example.com/", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "colour",
        ),
        (
            json!({"url": "https://example.com/", "scope": "everyone"}),
            StatusCode::BAD_REQUEST,
            "scope",
        ),
        (
            json!({"url": "https://example.com/", "event_types": ["no.such.type"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "event_types",
        ),
        (
            json!({"url": "https://example.com/", "event_types": ["tenant.created"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "event_types",
        ),
        (
            json!({"url": "https://example.com/", "event_types": ["bad name!"]}),
            StatusCode::BAD_REQUEST,
            "event_types",
        ),
    ];
    for (body, status, field) in cases {
        api.post(&path, body.clone())
            .await
            .assert_error(*status, Some(field));
    }
    let malformed = api
        .raw(
            Method::POST,
            &path,
            Some(TOKEN),
            Bytes::from_static(b"{\"url\":"),
        )
        .await;
    malformed.assert_error(StatusCode::BAD_REQUEST, None);
    api.post(
        "/v1/users/not-a-uuid/webhooks",
        hook("https://example.com/"),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, Some("user_id"));
    assert_eq!(
        count(&api.sql, "select count(*) from herald.user_webhooks").await,
        0,
        "nothing is half-written"
    );
    api.stop().await;
}

#[tokio::test]
async fn webhooks_of_another_user_answer_404() {
    let api = TestApi::start().await;
    let owner = Uuid::new_v4();
    let other = Uuid::new_v4();
    let (id, _) = api
        .create_webhook(owner, hook("https://example.com/hook"))
        .await;
    let base = format!("/v1/users/{other}/webhooks/{id}");
    api.get(&base)
        .await
        .assert_error(StatusCode::NOT_FOUND, None);
    api.patch(&base, json!({"description": "mine now"}))
        .await
        .assert_error(StatusCode::NOT_FOUND, None);
    api.post(&format!("{base}/rotate-secret"), json!({}))
        .await
        .assert_error(StatusCode::NOT_FOUND, None);
    api.get(&format!("{base}/deliveries"))
        .await
        .assert_error(StatusCode::NOT_FOUND, None);
    api.post(
        &format!("{base}/recover"),
        json!({"since": "2020-01-01T00:00:00Z"}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, None);
    api.call(Method::DELETE, &base, None)
        .await
        .assert_error(StatusCode::NOT_FOUND, None);
    let list = api.get(&format!("/v1/users/{other}/webhooks")).await.json();
    assert_eq!(list["data"], json!([]));
    assert_eq!(
        count(
            &api.sql,
            "select count(*) from herald.user_webhooks where description is null"
        )
        .await,
        1,
        "the owner's webhook is untouched"
    );
    api.stop().await;
}

#[tokio::test]
async fn webhooks_patch_tells_absent_from_null() {
    let api = TestApi::with_type("batch.completed").await;
    let user = Uuid::new_v4();
    let (id, _) = api
        .create_webhook(
            user,
            json!({"url": "https://example.com/", "description": "keep me",
                   "event_types": ["batch.completed"]}),
        )
        .await;
    let path = format!("/v1/users/{user}/webhooks/{id}");

    let v = api.patch(&path, json!({"enabled": false})).await.json();
    assert_eq!(v["description"], "keep me", "absent keeps");
    assert_eq!(v["event_types"], json!(["batch.completed"]), "absent keeps");
    assert_eq!(v["enabled"], false);

    let v = api.patch(&path, json!({"description": null})).await.json();
    assert_eq!(v["description"], Value::Null, "null clears");
    assert_eq!(v["event_types"], json!(["batch.completed"]));

    let v = api.patch(&path, json!({"event_types": []})).await.json();
    assert_eq!(v["event_types"], json!([]), "empty array matches nothing");
    let v = api.patch(&path, json!({"event_types": null})).await.json();
    assert_eq!(v["event_types"], Value::Null, "null: every type");

    api.patch(&path, json!({"url": null}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("url"));
    api.patch(&path, json!({"enabled": null}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("enabled"));
    api.patch(&path, json!({"scope": "platform"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("scope"));
    api.patch(&path, json!({"event_types": ["nope"]}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, Some("event_types"));
    api.stop().await;
}

#[tokio::test]
async fn webhooks_patch_resets_the_breaker_when_enabling() {
    let api = TestApi::start().await;
    let (user, id, _) = api.user_webhook().await;
    api.sql
        .execute(
            "update herald.user_webhooks set enabled = false, disabled_at = now(), \
             consecutive_failures = 10 where id = $1",
            &[&id],
        )
        .await
        .expect("trip the breaker");
    let v = api
        .patch(
            &format!("/v1/users/{user}/webhooks/{id}"),
            json!({"enabled": true}),
        )
        .await
        .json();
    assert_eq!(v["enabled"], true);
    assert_eq!(v["consecutive_failures"], 0);
    assert_eq!(v["disabled_at"], Value::Null);
    api.stop().await;
}

#[tokio::test]
async fn webhooks_rotate_secret_keeps_the_previous_one_with_expiry() {
    let api = TestApi::start().await;
    let (user, id, first) = api.user_webhook().await;
    let a = api.rotate(user, id, json!({"grace_seconds": 3600})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let second = a.json()["secret"].as_str().expect("secret").to_owned();
    assert!(second.starts_with("whsec_") && second != first);
    let row = api
        .sql
        .query_one(
            "select secret, previous_secret, \
             extract(epoch from previous_secret_expires_at - now())::float8 \
             from herald.user_webhooks where id = $1",
            &[&id],
        )
        .await
        .expect("row");
    assert_eq!(row.get::<_, String>(0), second);
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some(first.as_str())
    );
    let left: f64 = row.get(2);
    assert!((3500.0..=3600.0).contains(&left), "grace left: {left}");

    // No body: the default grace of 24 hours.
    let a = api
        .call(
            Method::POST,
            &format!("/v1/users/{user}/webhooks/{id}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    api.rotate(user, id, json!({"grace_seconds": 99_999_999}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("grace_seconds"));
    api.stop().await;
}

#[tokio::test]
async fn webhooks_platform_scope_is_forbidden_for_non_managers() {
    let api = TestApi::start().await;
    api.register_type("tenant.created", "platform").await;
    let user = Uuid::new_v4();
    let body = json!({"url": "https://example.com/", "scope": "platform",
                      "event_types": ["tenant.created"]});
    let path = format!("/v1/users/{user}/webhooks");
    api.post(&path, body.clone())
        .await
        .assert_error(StatusCode::FORBIDDEN, None);

    let role = format!("/v1/users/{user}/roles/platform-manager");
    assert_eq!(
        api.call(Method::PUT, &role, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call(Method::PUT, &role, None).await.status,
        StatusCode::NO_CONTENT,
        "granting twice is fine"
    );
    let (id, _) = api.create_webhook(user, body.clone()).await;

    assert_eq!(
        api.call(Method::DELETE, &role, None).await.status,
        StatusCode::NO_CONTENT
    );
    api.post(&path, body)
        .await
        .assert_error(StatusCode::FORBIDDEN, None);
    // A demoted manager's existing webhook can still be changed (e.g. disabled).
    let a = api
        .patch(&format!("{path}/{id}"), json!({"enabled": false}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    api.stop().await;
}

#[tokio::test]
async fn webhooks_custom_headers_are_checked_naming_the_header_and_shown_with_the_breaker() {
    let api = TestApi::start().await;
    let user = Uuid::new_v4();
    let (id, _) = api
        .create_webhook(
            user,
            json!({"url": "https://example.com/hook", "headers": {"X-Team": "billing"}}),
        )
        .await;
    let v = api
        .get(&format!("/v1/users/{user}/webhooks/{id}"))
        .await
        .json();
    assert_eq!(v["headers"], json!({"X-Team": "billing"}));
    assert_eq!(v["breaker_state"], "closed");
    assert_eq!(v["breaker_until"], Value::Null);
    for (headers, named) in [
        (json!({"Webhook-Id": "x"}), "Webhook-Id"),
        (json!({"Content-Type": "text/plain"}), "Content-Type"),
        (json!({"Connection": "close"}), "Connection"),
        (json!({"Bad Name": "x"}), "Bad Name"),
        (json!({"X-N": 1}), "X-N"),
    ] {
        let r = api
            .patch(
                &format!("/v1/users/{user}/webhooks/{id}"),
                json!({ "headers": headers }),
            )
            .await;
        r.assert_error(StatusCode::BAD_REQUEST, Some("headers"));
        assert!(r.text.contains(named), "{named}: {}", r.text);
    }
    let cleared = api
        .patch(
            &format!("/v1/users/{user}/webhooks/{id}"),
            json!({"headers": null}),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text);
    assert_eq!(cleared.json()["headers"], json!({}));
    api.stop().await;
}

#[tokio::test]
async fn webhooks_ordering_is_validated_shown_and_gates_the_webhook() {
    let api = TestApi::start().await;
    let user = Uuid::new_v4();
    let path = format!("/v1/users/{user}/webhooks");
    api.post(
        &path,
        json!({"url": "https://example.com/", "ordering": "lifo"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, Some("ordering"));
    let (id, _) = api
        .create_webhook(
            user,
            json!({"url": "https://example.com/", "ordering": "fifo"}),
        )
        .await;
    let gated = format!("select count(*) from herald.webhook_gates where webhook_id = '{id}'");
    assert_eq!(count(&api.sql, &gated).await, 1, "a FIFO webhook is gated");
    let one = format!("{path}/{id}");
    assert_eq!(api.get(&one).await.json()["ordering"], "fifo");
    api.patch(&one, json!({"ordering": null}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("ordering"));
    api.patch(&one, json!({"ordering": "FIFO"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("ordering"));
    let v = api.patch(&one, json!({"ordering": "none"})).await.json();
    assert_eq!(v["ordering"], "none");
    assert_eq!(count(&api.sql, &gated).await, 0, "no longer gated");
    let (plain, _) = api.create_webhook(user, hook("https://example.com/")).await;
    assert_eq!(
        api.get(&format!("{path}/{plain}")).await.json()["ordering"],
        "none",
        "the default"
    );
}

#[tokio::test]
async fn webhooks_rate_limit_is_kept_across_updates_removed_and_refused_when_bad() {
    let api = TestApi::start().await;
    let user = Uuid::new_v4();
    let path = format!("/v1/users/{user}/webhooks");
    let (id, _) = api
        .create_webhook(
            user,
            json!({"url": "https://example.com/hook", "rate_limit_per_s": 20, "rate_limit_burst": 5}),
        )
        .await;
    let hook = format!("{path}/{id}");
    let limit = |v: &Value| {
        (
            v["rate_limit_per_s"].as_f64(),
            v["rate_limit_burst"].as_i64(),
        )
    };
    assert_eq!(limit(&api.get(&hook).await.json()), (Some(20.0), Some(5)));
    let gated = format!("select count(*) from herald.webhook_gates where webhook_id = '{id}'");
    assert_eq!(
        count(&api.sql, &gated).await,
        1,
        "a limited webhook is gated"
    );

    // Another change keeps the limit; a new rate keeps the burst.
    let kept = api.patch(&hook, json!({"description": "orders"})).await;
    assert_eq!(limit(&kept.json()), (Some(20.0), Some(5)), "{}", kept.text);
    let rate = api.patch(&hook, json!({"rate_limit_per_s": 2.5})).await;
    assert_eq!(limit(&rate.json()), (Some(2.5), Some(5)), "{}", rate.text);

    for (body, field) in [
        (json!({"rate_limit_per_s": 0}), "rate_limit_per_s"),
        (json!({"rate_limit_per_s": -1.5}), "rate_limit_per_s"),
        (json!({"rate_limit_per_s": "fast"}), "rate_limit_per_s"),
        (json!({"rate_limit_burst": 0}), "rate_limit_burst"),
        (json!({"rate_limit_burst": 2.5}), "rate_limit_burst"),
        (
            json!({"rate_limit_per_s": null, "rate_limit_burst": 3}),
            "rate_limit_burst",
        ),
    ] {
        api.patch(&hook, body)
            .await
            .assert_error(StatusCode::BAD_REQUEST, Some(field));
    }
    api.post(
        &path,
        json!({"url": "https://example.com/b", "rate_limit_burst": 3}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, Some("rate_limit_burst"));

    // Removing the rate removes its burst, and the webhook leaves the gates.
    let removed = api.patch(&hook, json!({"rate_limit_per_s": null})).await;
    assert_eq!(limit(&removed.json()), (None, None), "{}", removed.text);
    assert_eq!(count(&api.sql, &gated).await, 0);
    api.patch(&hook, json!({"rate_limit_burst": 3}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("rate_limit_burst"));

    // SQL refuses what the API refuses, naming the check.
    for (set, check) in [
        ("rate_limit_per_s = 0", "webhook_rate_limit_range"),
        ("rate_limit_per_s = -2", "webhook_rate_limit_range"),
        (
            "rate_limit_per_s = 1, rate_limit_burst = 0",
            "webhook_rate_limit_burst_range",
        ),
        (
            "rate_limit_burst = 3",
            "webhook_rate_limit_burst_needs_rate",
        ),
    ] {
        let err = api
            .sql
            .execute(
                &format!("update herald.user_webhooks set {set} where id = $1"),
                &[&id],
            )
            .await
            .expect_err(set);
        let constraint = err.as_db_error().and_then(|e| e.constraint());
        assert_eq!(constraint, Some(check), "{set}: {err}");
    }
    api.stop().await;
}
