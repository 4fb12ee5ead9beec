//! Secrets at rest (`HERALD_SECRET_KEYS`), `herald secrets reencrypt`, and ed25519 signatures,
//! each checked with an independent implementation: the Standard Webhooks library for `v1,`
//! and ed25519-dalek for `v1a,`.

use std::time::Duration;

use base64::{engine::general_purpose::STANDARD, Engine};
use herald::{
    domain::{keyring::KeyRing, scope::Scope},
    store::webhooks::{self, NewWebhook, Redacted},
};
use http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use super::assert_no_secret_prefix;
use crate::admin::AdminApi;
use crate::{
    app::{emit_many, start, test_config, webhook_for, Scene},
    harness::{count, eventually_delivered, eventually_some, rows, succeeded, TestDb},
    receiver::RecordedRequest,
};

fn ring(keys: &[u8]) -> KeyRing {
    KeyRing::from_keys(&keys.iter().map(|b| [*b; 32]).collect::<Vec<_>>())
}

fn env_value(keys: &[u8]) -> String {
    keys.iter()
        .map(|b| STANDARD.encode([*b; 32]))
        .collect::<Vec<_>>()
        .join(",")
}

/// Verifies with the official Standard Webhooks library (HMAC, `v1,`).
fn verifies_hmac(req: &RecordedRequest, secret: &str) -> bool {
    standardwebhooks::Webhook::new(secret)
        .expect("secret accepted by the library")
        .verify(&req.body, &req.headers)
        .is_ok()
}

/// Verifies a `v1a,` signature with ed25519-dalek and the `whpk_` public key.
fn verifies_ed25519(req: &RecordedRequest, public_key: &str) -> bool {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let key: [u8; 32] = STANDARD
        .decode(public_key.strip_prefix("whpk_").expect("whpk_"))
        .expect("base64")
        .try_into()
        .expect("32 bytes");
    let key = VerifyingKey::from_bytes(&key).expect("a public key");
    let message = [
        req.webhook_id().expect("id").as_bytes(),
        b".",
        req.header("webhook-timestamp").expect("ts").as_bytes(),
        b".",
        &req.body,
    ]
    .concat();
    req.header("webhook-signature")
        .expect("signature")
        .split(' ')
        .filter_map(|e| e.strip_prefix("v1a,"))
        .filter_map(|s| STANDARD.decode(s).ok())
        .filter_map(|s| <[u8; 64]>::try_from(s).ok())
        .any(|s| key.verify(&message, &Signature::from_bytes(&s)).is_ok())
}

async fn create(addr: std::net::SocketAddr, user: Uuid, body: Value) -> Value {
    let (status, created) = AdminApi::at(addr).create_webhook(user, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn rotate(addr: std::net::SocketAddr, user: Uuid, hook: &str) -> Value {
    let (status, rotated) = AdminApi::at(addr)
        .rotate(user, hook, json!({"grace_seconds": 3600}))
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    rotated
}

/// `pg_dump` of the whole test database, as text.
fn pg_dump(db: &TestDb) -> String {
    let bin = herald::pgcluster::BinarySearch::system()
        .find()
        .expect("PostgreSQL binaries")
        .postgres
        .parent()
        .expect("bin folder")
        .join("pg_dump");
    let out = std::process::Command::new(bin)
        .arg(&db.url)
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 dump")
}

#[tokio::test]
async fn secrets_at_rest_leave_no_secret_in_pg_dump_and_both_schemes_verify_through_rotation() {
    let Scene { db, c, receiver } = Scene::new().await;
    let keys = ring(&[1]);
    let mut config = test_config(&db);
    config.secret_keys = keys.clone();
    let herald = start(config).await;
    let addr = herald.api_addr;
    let admin = AdminApi::at(addr);
    let user = Uuid::new_v4();

    let hmac = create(addr, user, json!({"url": receiver.url("/hmac")})).await;
    assert_eq!(hmac["signature_scheme"], "hmac");
    assert!(hmac["public_key"].is_null());
    let hmac_id = hmac["id"].as_str().expect("id").to_owned();
    let old_secret = hmac["secret"].as_str().expect("secret").to_owned();
    assert!(old_secret.starts_with("whsec_"));

    let ed = create(
        addr,
        user,
        json!({"url": receiver.url("/ed"), "signature_scheme": "ed25519"}),
    )
    .await;
    assert_eq!(ed["signature_scheme"], "ed25519");
    assert!(
        ed.get("secret").is_none(),
        "the signing key stays in Herald: {ed}"
    );
    let ed_id = ed["id"].as_str().expect("id").to_owned();
    let old_public = ed["public_key"].as_str().expect("public key").to_owned();
    assert!(old_public.starts_with("whpk_"));
    let (status, got) = admin
        .get(&format!("/v1/users/{user}/webhooks/{ed_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        got["public_key"],
        old_public.as_str(),
        "get shows the public key"
    );
    assert!(got.get("secret").is_none());

    let (status, bad) = admin
        .create_webhook(
            user,
            json!({"url": receiver.url("/x"), "signature_scheme": "rsa"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert_eq!(bad["error"]["field"], "signature_scheme");

    let new_secret = rotate(addr, user, &hmac_id).await["secret"]
        .as_str()
        .expect("new secret")
        .to_owned();
    let rotated = rotate(addr, user, &ed_id).await;
    assert!(rotated.get("secret").is_none(), "{rotated}");
    let new_public = rotated["public_key"]
        .as_str()
        .expect("new public key")
        .to_owned();
    assert_ne!(new_public, old_public);

    emit_many(&c, "order.created", user, 1).await;
    let requests = receiver.wait_for_count(2, Duration::from_secs(20)).await;
    let hmac_req = requests
        .iter()
        .find(|r| r.path == "/hmac")
        .expect("hmac request");
    let ed_req = requests
        .iter()
        .find(|r| r.path == "/ed")
        .expect("ed25519 request");
    // During the grace period both signatures verify, each with its own key.
    assert_eq!(
        hmac_req
            .header("webhook-signature")
            .unwrap()
            .matches("v1,")
            .count(),
        2
    );
    assert!(verifies_hmac(hmac_req, &new_secret));
    assert!(verifies_hmac(hmac_req, &old_secret));
    let ed_header = ed_req.header("webhook-signature").unwrap();
    assert_eq!(ed_header.matches("v1a,").count(), 2, "{ed_header}");
    assert!(!ed_header.contains("v1,"), "{ed_header}");
    assert!(verifies_ed25519(ed_req, &new_public));
    assert!(verifies_ed25519(ed_req, &old_public));
    assert!(
        !verifies_ed25519(hmac_req, &new_public),
        "no v1a on an hmac webhook"
    );
    herald.shutdown().await;

    // Stored sealed, and pg_dump holds no secret, prefixed or not.
    let stored: Vec<String> = rows(
        &c,
        "select s from herald.user_webhooks, unnest(array[secret, previous_secret]) s",
        &[],
        |r| r.get(0),
    )
    .await;
    assert_eq!(stored.len(), 4);
    let mut plaintexts = vec![old_secret.clone(), new_secret.clone()];
    for (s, id) in stored.iter().zip([&hmac_id, &hmac_id, &ed_id, &ed_id]) {
        assert!(s.starts_with("herald-aead:v1:"), "{s}");
        if let Ok(p) = keys.open(s, id.parse().expect("uuid")) {
            plaintexts.push(p);
        }
    }
    assert_eq!(
        plaintexts.len(),
        6,
        "every stored secret opens with its own webhook id"
    );
    let dump = pg_dump(&db);
    assert!(
        dump.contains("herald-aead:v1:"),
        "the dump has the ciphertexts"
    );
    assert_no_secret_prefix(&dump, "the dump");
    for p in &plaintexts {
        let body = p.split_once('_').map_or(p.as_str(), |(_, b)| b);
        let bytes = STANDARD.decode(body).expect("base64");
        assert!(!dump.contains(body), "secret material in the dump");
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!dump.contains(&hex), "secret bytes (hex) in the dump");
    }
}

#[tokio::test]
async fn secrets_reencrypt_after_a_new_first_key_leaves_every_webhook_delivering() {
    let Scene { db, c, receiver } = Scene::new().await;
    let mut config = test_config(&db);
    config.secret_keys = ring(&[1]);
    let herald = start(config).await;
    let addr = herald.api_addr;

    // Four webhooks sealed with key 1 (one ed25519, one rotated), one in plaintext from SQL.
    let mut hmac_hooks = Vec::new();
    for i in 0..3 {
        let user = Uuid::new_v4();
        let created = create(addr, user, json!({"url": receiver.url(&format!("/h{i}"))})).await;
        let mut secret = created["secret"].as_str().expect("secret").to_owned();
        if i == 0 {
            let id = created["id"].as_str().expect("id");
            secret = rotate(addr, user, id).await["secret"]
                .as_str()
                .expect("secret")
                .to_owned();
        }
        hmac_hooks.push((user, format!("/h{i}"), secret));
    }
    let ed_user = Uuid::new_v4();
    let ed = create(
        addr,
        ed_user,
        json!({"url": receiver.url("/ed"), "signature_scheme": "ed25519"}),
    )
    .await;
    let ed_public = ed["public_key"].as_str().expect("public key").to_owned();
    let (plain_user, _, plain_secret) =
        webhook_for(&c, Uuid::new_v4(), &receiver.url("/plain")).await;
    hmac_hooks.push((plain_user, "/plain".into(), plain_secret.expose()));
    herald.shutdown().await;

    // Key 2 goes first; `herald secrets reencrypt` moves everything to it, two per batch.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["secrets", "reencrypt", "--batch-size", "2"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("HERALD_SECRET_KEYS", env_value(&[2, 1]))
        .output()
        .expect("run herald secrets reencrypt");
    let stdout = succeeded(&out, "herald secrets reencrypt");
    assert!(stdout.contains("5 webhooks re-encrypted"), "{stdout}");
    let key2 = ring(&[2]).current_id().expect("id").to_string();
    assert_eq!(
        count(
            &c,
            &format!(
                "select count(*) from herald.user_webhooks
                  where secret like 'herald-aead:v1:{key2}:%'
                    and (previous_secret is null or previous_secret like 'herald-aead:v1:{key2}:%')"
            )
        )
        .await,
        5
    );
    let again = herald::secrets::reencrypt(
        &herald::store::connect_pool(&db.url, 2).expect("pool"),
        &ring(&[2, 1]),
        100,
    )
    .await
    .expect("second run");
    assert_eq!((again.reencrypted, again.current), (0, 5), "{again:?}");

    // Key 1 removed: every webhook still delivers, verified.
    let mut config = test_config(&db);
    config.secret_keys = ring(&[2]);
    let herald = start(config).await;
    for (user, _, _) in &hmac_hooks {
        emit_many(&c, "order.created", *user, 1).await;
    }
    emit_many(&c, "order.created", ed_user, 1).await;
    let requests = receiver.wait_for_count(5, Duration::from_secs(30)).await;
    for (_, path, secret) in &hmac_hooks {
        let req = requests
            .iter()
            .find(|r| &r.path == path)
            .expect("delivered");
        assert!(verifies_hmac(req, secret), "{path}");
    }
    let req = requests
        .iter()
        .find(|r| r.path == "/ed")
        .expect("delivered");
    assert!(verifies_ed25519(req, &ed_public));
    herald.shutdown().await;
}

#[tokio::test]
async fn secrets_a_removed_key_or_a_copied_ciphertext_fails_that_webhook_clearly() {
    let Scene { db, c, receiver } = Scene::new().await;
    let pool = db.pool();
    let mut hooks = Vec::new();
    for (name, keys) in [
        ("lost", ring(&[1])),
        ("kept", ring(&[2])),
        ("copy", ring(&[2])),
    ] {
        let user = Uuid::new_v4();
        let secret = herald::domain::secret::WebhookSecret::generate().expect("rng");
        let text = secret.expose();
        let url = receiver.url(&format!("/{name}"));
        let w = webhooks::create(
            &pool,
            &keys,
            &NewWebhook {
                user_id: user,
                url: &url,
                secret: Redacted(&text),
                signature_scheme: "hmac",
                public_key: None,
                event_types: None,
                description: None,
                scope: Scope::Own,
                enabled: true,
                headers: None,
                ordering: "none",
                rate_limit: None,
            },
        )
        .await
        .expect("create");
        hooks.push((user, w.id, text));
    }
    // The copy gets the "kept" webhook's ciphertext: bound to another id, it must not open.
    c.execute(
        "update herald.user_webhooks set secret = (select secret from herald.user_webhooks where id = $1)
          where id = $2",
        &[&hooks[1].1, &hooks[2].1],
    )
    .await
    .expect("copy a ciphertext");

    let mut config = test_config(&db);
    config.secret_keys = ring(&[2]);
    config.retry_schedule = "0,3600".parse().expect("schedule");
    let herald = start(config).await;
    for (user, _, _) in &hooks {
        emit_many(&c, "order.created", *user, 1).await;
    }
    let key1 = ring(&[1]).current_id().expect("id").to_string();
    for (hook, expected) in [
        (
            hooks[0].1,
            format!("encrypted with key {key1}, which is not in HERALD_SECRET_KEYS"),
        ),
        (hooks[2].1, "belongs to another webhook".to_owned()),
    ] {
        let error: String = eventually_some("a recorded failure", Duration::from_secs(20), || {
            let c = &c;
            async move {
                c.query_opt(
                    "select d.last_error from herald.webhook_deliveries d
                       join herald.delivery_attempts a on a.delivery_id = d.id and a.error = d.last_error
                      where d.webhook_id = $1 and d.status = 'failed'",
                    &[&hook],
                )
                .await
                .expect("query")
                .map(|r| r.get(0))
            }
        })
        .await;
        assert!(error.contains(&expected), "{error}");
        assert!(error.starts_with("the webhook's signing secret"), "{error}");
    }
    let requests = receiver.wait_for_count(1, Duration::from_secs(20)).await;
    assert_eq!(requests[0].path, "/kept");
    assert!(verifies_hmac(&requests[0], &hooks[1].2));
    eventually_delivered(&c, 1, "kept delivered", Duration::from_secs(60)).await;
    // Herald's own configuration is at fault, not the endpoint: the breaker is untouched.
    assert_eq!(
        count(
            &c,
            "select coalesce(sum(consecutive_failures), 0)::int8 from herald.user_webhooks"
        )
        .await,
        0
    );
    assert_eq!(receiver.count(), 1);
    herald.shutdown().await;

    // reencrypt names both webhooks it cannot open, and moves nothing it cannot.
    let report = herald::secrets::reencrypt(&pool, &ring(&[3, 2]), 10)
        .await
        .expect("reencrypt runs");
    assert_eq!(report.reencrypted, 1, "{report:?}");
    let failed: Vec<Uuid> = report.failed.iter().map(|(id, _)| *id).collect();
    assert!(
        failed.contains(&hooks[0].1) && failed.contains(&hooks[2].1),
        "{report:?}"
    );
}
