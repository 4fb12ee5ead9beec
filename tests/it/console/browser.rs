//! Acceptance of the console in a real headless Chromium: sign in, find a webhook, filter its
//! deliveries to `exhausted`, open one's attempts, retry it, see it delivered; a `<script>`
//! payload renders as text; a wrong token is refused; an action without the session cookie is
//! refused. Screenshots of each screen go to `target/console-screenshots/`.

use std::{path::PathBuf, time::Duration};

use herald::domain::retry::RetrySchedule;
use uuid::Uuid;

use super::webdriver::{self, Browser};
use crate::{
    app::{event_type, start, test_config, webhook_enabled, webhook_for, TOKEN},
    harness::{eventually, TestDb},
    receiver::{Behaviour, Route, TestReceiver},
};

const PAYLOAD_NOTE: &str = "<script>window.pwned = 1</script><b>bold?</b>";

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots")
}

/// Reloads `url` until `check` holds for the page source (the console has no live updates).
async fn until_page(b: &Browser, url: &str, what: &str, check: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        b.goto(url).await;
        if check(&b.source().await) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn console_in_a_browser_signs_in_finds_filters_retries_and_escapes() {
    if let Some(why) = webdriver::missing() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the console browser test must run in CI, but Chromium is {why}"
        );
        eprintln!("SKIPPED console browser test: Chromium {why} (apt-get install chromium chromium-driver)");
        return;
    }
    let (db, c) = TestDb::with_client().await;
    let receiver = TestReceiver::start().await;
    receiver.set_behaviour(Route::All, Behaviour::status(500));
    let mut config = test_config(&db);
    config.retry_schedule = "0".parse::<RetrySchedule>().expect("schedule");
    let app = start(config).await;
    let base = format!("http://{}", app.api_addr);
    event_type(&c, "order.created", "own").await;
    let user = Uuid::new_v4();
    let (_, hook, _) = webhook_for(&c, user, &receiver.url("/hook")).await;
    c.execute(
        "select herald.emit('order.created', $1, null, jsonb_build_object('note', $2::text))",
        &[&user, &PAYLOAD_NOTE],
    )
    .await
    .expect("emit");
    eventually("the delivery is exhausted", Duration::from_secs(60), || {
        let c = &c;
        async move {
            crate::harness::count(
                c,
                "select count(*) from herald.webhook_deliveries where status = 'exhausted'",
            )
            .await
                == 1
        }
    })
    .await;

    let b = Browser::start().await;
    let shots = screenshots();

    // A wrong token is refused, and no session cookie is set.
    b.goto(&format!("{base}/console")).await;
    assert!(b.current_url().await.ends_with("/console/login"));
    b.screenshot(&shots, "1-sign-in").await;
    let field = b.find("#token").await;
    b.type_into(&field, "not-the-admin-token").await;
    b.click(&b.find("#sign-in").await).await;
    b.wait_for_text("Wrong token.").await;
    assert!(b
        .cookies()
        .await
        .iter()
        .all(|c| c["name"] != "herald_console"));
    b.screenshot(&shots, "2-wrong-token").await;

    // Sign in with the admin token: an HttpOnly, SameSite=Strict cookie.
    let field = b.find("#token").await;
    b.type_into(&field, TOKEN).await;
    b.click(&b.find("#sign-in").await).await;
    b.wait_for_url(|u| u.ends_with("/console/webhooks")).await;
    let cookie = b
        .cookies()
        .await
        .into_iter()
        .find(|c| c["name"] == "herald_console")
        .expect("session cookie");
    assert_eq!(cookie["httpOnly"], true);
    assert_eq!(cookie["sameSite"], "Strict");
    assert!(
        !b.current_url().await.contains(TOKEN),
        "no token in the URL"
    );

    // Find the user's webhook.
    let q = b.find("#q").await;
    b.type_into(&q, &user.to_string()).await;
    b.click(&b.find("#find-button").await).await;
    let row = b.wait_for(&format!("tr[data-webhook-id=\"{hook}\"]")).await;
    let text = b.text(&row).await;
    assert!(
        text.contains(&receiver.url("/hook")) && text.contains("closed"),
        "{text}"
    );
    b.screenshot(&shots, "3-webhooks").await;

    // Its deliveries, filtered to exhausted.
    b.click(&b.find("a.webhook-link").await).await;
    let status = b.wait_for("#status").await;
    b.click(&status).await;
    b.click(&b.find("#status option[value=\"exhausted\"]").await)
        .await;
    b.click(&b.find("#apply-filter").await).await;
    b.wait_for_url(|u| u.contains("status=exhausted")).await;
    b.wait_for("details.delivery").await;
    let rows = b.find_all("details.delivery").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        b.attribute(&rows[0], "data-status").await.as_deref(),
        Some("exhausted")
    );

    // Open its attempts and payload.
    b.click(&b.find("details.delivery summary").await).await;
    let attempts = b
        .text(&b.find("details.delivery table.attempts").await)
        .await;
    assert!(attempts.contains("500"), "{attempts}");
    let payload = b.text(&b.find("details.delivery pre.payload").await).await;
    assert!(
        payload.contains(PAYLOAD_NOTE),
        "the payload shows as text: {payload}"
    );
    assert!(
        b.find_all("main script, main b").await.is_empty(),
        "no markup from the payload"
    );
    assert_eq!(b.eval("return window.pwned === undefined;").await, true);
    b.screenshot(&shots, "4-deliveries-exhausted").await;

    // Retry it: a confirmation, then the result; the receiver now accepts.
    receiver.set_behaviour(Route::All, Behaviour::status(200));
    b.click(&b.find("details.delivery button.retry").await)
        .await;
    assert!(b
        .text(&b.find("#question").await)
        .await
        .contains("Retry delivery"));
    b.screenshot(&shots, "5-confirm-retry").await;
    b.click(&b.find("#confirm").await).await;
    let done = b.text(&b.wait_for("div.notice").await).await;
    assert!(done.contains("is due now"), "{done}");
    b.screenshot(&shots, "6-retried").await;
    let deliveries = format!("{base}/console/webhooks/{hook}/deliveries");
    until_page(
        &b,
        &deliveries,
        "the retried delivery shows as delivered",
        |s| s.contains("data-status=\"delivered\""),
    )
    .await;
    b.click(&b.find("details.delivery summary").await).await;
    let attempts = b
        .text(&b.find("details.delivery table.attempts").await)
        .await;
    assert!(attempts.contains("200"), "{attempts}");
    b.screenshot(&shots, "7-delivered").await;

    // The fleet: this replica, leading, and the queue.
    until_page(
        &b,
        &format!("{base}/console/fleet"),
        "the fleet lists this replica as leader",
        |s| s.contains(&app.worker_id.to_string()) && s.contains(">leader<"),
    )
    .await;
    b.screenshot(&shots, "8-fleet").await;

    // An action without the session cookie is refused, and changes nothing.
    b.goto(&deliveries).await;
    b.delete_cookies().await;
    b.click(&b.find("#disable").await).await;
    let refusal = b.text(&b.wait_for("div.notice.error").await).await;
    assert!(refusal.contains("Sign in first"), "{refusal}");
    b.screenshot(&shots, "9-refused-without-session").await;
    let enabled = webhook_enabled(&c, hook).await;
    assert!(enabled, "the refused action changed nothing");

    b.quit().await;
    app.shutdown().await;
}
