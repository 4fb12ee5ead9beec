//! The console at the HTTP level: what a browser would not send on its own (no cookie, no
//! CSRF token, a foreign Origin), the sign-in cookie's attributes, escaping, Server-Timing.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use uuid::Uuid;

use crate::{
    app::{start, test_config, webhook_enabled, webhook_for, TOKEN},
    harness::TestDb,
};

struct Page {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Page {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = tokio::time::timeout(
        Duration::from_secs(30),
        client.request(
            req.body(Full::new(Bytes::from(body.to_owned())))
                .expect("request"),
        ),
    )
    .await
    .expect("answered in time")
    .expect("request sent");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    Page {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// The value of the first `name="csrf"` hidden field.
fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().expect("value").to_owned()
}

#[tokio::test]
async fn console_refuses_actions_without_session_csrf_token_or_own_origin() {
    let (db, c) = TestDb::with_client().await;
    let app = start(test_config(&db)).await;
    let base = format!("http://{}", app.api_addr);
    let host = app.api_addr.to_string();
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let user = Uuid::new_v4();
    let (_, hook, _) = webhook_for(&c, user, "https://example.com/<hook>").await;
    c.execute(
        "update herald.user_webhooks set description = '<img src=x onerror=alert(1)>' where id = $1",
        &[&hook],
    )
    .await
    .expect("description");
    let disable = format!("{base}/console/webhooks/{hook}/disable");

    // Without a session: pages send to the sign-in, actions are refused.
    let page = send(
        &client,
        Method::GET,
        &format!("{base}/console/fleet"),
        &[],
        "",
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers["location"], "/console/login");
    let page = send(
        &client,
        Method::POST,
        &disable,
        &[FORM],
        "csrf=x&confirmed=yes",
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    // A wrong token, or a sign-in that is not a form, sets no cookie.
    let login_url = format!("{base}/console/login");
    let wrong = send(
        &client,
        Method::POST,
        &login_url,
        &[FORM],
        "token=nope-nope-nope-nope",
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get("set-cookie").is_none());
    let as_json = [("content-type", "application/json")];
    let body = format!("{{\"token\":\"{TOKEN}\"}}");
    let json = send(&client, Method::POST, &login_url, &as_json, &body).await;
    assert_eq!(json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(json.headers.get("set-cookie").is_none());

    let token = format!("token={TOKEN}");
    let login = send(&client, Method::POST, &login_url, &[FORM], &token).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    let set_cookie = login.headers["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().expect("pair").to_owned();

    let page = send(
        &client,
        Method::GET,
        &format!("{base}/console/webhooks?q={user}"),
        &[("cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.headers["server-timing"]
        .to_str()
        .unwrap()
        .starts_with("app;dur="));
    assert!(page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    assert!(
        page.body.contains("&lt;img src=x onerror=alert(1)&gt;") || !page.body.contains("<img"),
        "escaped"
    );
    assert!(
        page.body.contains("https://example.com/&lt;hook&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<hook>"));
    let token = csrf(&page.body);

    // A session but no (or a wrong) CSRF token, or another site's Origin: refused.
    for body in [
        "confirmed=yes".to_owned(),
        "csrf=AAAA&confirmed=yes".to_owned(),
    ] {
        let page = send(
            &client,
            Method::POST,
            &disable,
            &[FORM, ("cookie", &cookie)],
            &body,
        )
        .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{body}");
    }
    let body = format!("csrf={token}&confirmed=yes");
    let page = send(
        &client,
        Method::POST,
        &disable,
        &[FORM, ("cookie", &cookie), ("origin", "http://evil.example")],
        &body,
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let enabled = webhook_enabled(&c, hook).await;
    assert!(enabled, "nothing refused changed the webhook");

    // With all three: first a confirmation, then the action.
    let origin = format!("http://{host}");
    let asked = send(
        &client,
        Method::POST,
        &disable,
        &[FORM, ("cookie", &cookie), ("origin", &origin)],
        &format!("csrf={token}"),
    )
    .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.body.contains("id=\"confirm\""), "{}", asked.body);
    let done = send(
        &client,
        Method::POST,
        &disable,
        &[FORM, ("cookie", &cookie), ("origin", &origin)],
        &body,
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("is disabled"), "{}", done.body);
    let enabled = webhook_enabled(&c, hook).await;
    assert!(!enabled);

    // Bad input to an action answers the API's message.
    let recover = format!("{base}/console/webhooks/{hook}/recover");
    let page = send(
        &client,
        Method::POST,
        &recover,
        &[FORM, ("cookie", &cookie)],
        &format!("csrf={token}&since=yesterday"),
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("since must be an RFC 3339 time"),
        "{}",
        page.body
    );
    app.shutdown().await;
}
