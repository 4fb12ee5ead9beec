//! The web console at `/console`, served by `herald run` beside the admin API: server-rendered
//! HTML (no script), signed in with the admin token. Screens: webhooks (`webhooks.rs`), a
//! webhook's deliveries with their attempts and payloads (`deliveries.rs`), the fleet
//! (`fleet.rs`); actions with a confirmation step (`actions.rs`). Every screen reads through
//! the API's own functions (`crate::api::{webhooks, deliveries}`) and the store, so it shows
//! what the API shows and is bounded the same way.
//!
//! Sign-in and CSRF (`session.rs`): `POST /console/login` with the form field `token` sets an
//! `HttpOnly`, `SameSite=Strict` cookie. Every state-changing request needs that session and
//! the session's CSRF token in the form; a request whose `Origin` is not this host is refused
//! too.

mod actions;
mod deliveries;
mod fleet;
mod html;
mod session;
mod webhooks;

use std::{collections::HashMap, time::Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use self::{
    html::{notice, page, redirect, respond},
    session::Sessions,
};
use crate::api::{error::ApiError, request, ApiState};

/// Largest console form accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The console's keys; built once per server.
pub struct Console {
    sessions: Sessions,
}

impl Console {
    pub fn new(admin_token: Option<&str>) -> Result<Self, ring::error::Unspecified> {
        Ok(Self {
            sessions: Sessions::new(admin_token)?,
        })
    }
}

/// True for the paths the console serves.
pub fn serves(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// What a screen needs: the API's state and the session's CSRF token for its forms.
pub struct Ctx<'a> {
    pub state: &'a ApiState,
    pub csrf: String,
}

/// Answers one console request; adds `Server-Timing: app;dur=<ms>`.
pub async fn handle(
    console: &Console,
    state: &ApiState,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let mut res = route(console, state, req).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={ms:.2}")) {
        res.headers_mut().insert("server-timing", v);
    }
    res
}

async fn route(
    console: &Console,
    state: &ApiState,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    let query = req.uri().query().map(str::to_owned);
    let sessions = &console.sessions;
    match (&method, segments.as_slice()) {
        (&Method::GET, [] | [""]) => return redirect("/console/webhooks"),
        (&Method::GET, ["style.css"]) => {
            return html::with_type(
                StatusCode::OK,
                "text/css; charset=utf-8",
                html::STYLE.into(),
            )
        }
        (&Method::GET, ["login"]) => return login_page(StatusCode::OK, None),
        (&Method::POST, ["login"]) => return login(sessions, state, req).await,
        _ => {}
    }
    let Some(session) = sessions.session(req.headers()) else {
        return if method == Method::GET {
            redirect("/console/login")
        } else {
            refused(
                StatusCode::FORBIDDEN,
                "Sign in first: this action needs a console session.",
            )
        };
    };
    let ctx = Ctx {
        state,
        csrf: sessions.csrf(&session),
    };
    if method == Method::GET {
        let result = match segments.as_slice() {
            ["webhooks"] => webhooks::screen(&ctx, query.as_deref()).await,
            ["webhooks", id, "deliveries"] => deliveries::screen(&ctx, id, query.as_deref()).await,
            ["fleet"] => fleet::screen(&ctx).await,
            _ => return not_found(&path),
        };
        return result.unwrap_or_else(|e| error_page(&ctx, e));
    }
    if method != Method::POST {
        return refused(
            StatusCode::METHOD_NOT_ALLOWED,
            "The console answers GET and POST only.",
        );
    }
    if !same_origin(req.headers()) {
        return cross_site();
    }
    let form = match read_form(state, req).await {
        Ok(f) => f,
        Err(e) => return error_page(&ctx, e),
    };
    if !form
        .get("csrf")
        .is_some_and(|t| sessions.csrf_matches(&session, t))
    {
        return refused(
            StatusCode::FORBIDDEN,
            "Refused: the form's CSRF token is missing or wrong. Reload the page and try again.",
        );
    }
    if segments.as_slice() == ["logout"] {
        let mut res = redirect("/console/login");
        if let Ok(v) = HeaderValue::from_str(&session::clear_cookie()) {
            res.headers_mut().insert(header::SET_COOKIE, v);
        }
        return res;
    }
    actions::perform(&ctx, &segments, &form)
        .await
        .unwrap_or_else(|e| error_page(&ctx, e))
}

/// A form body: `application/x-www-form-urlencoded`, within the API's deadline.
async fn read_form(
    state: &ApiState,
    req: Request<Incoming>,
) -> Result<HashMap<String, String>, ApiError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "console forms are sent as application/x-www-form-urlencoded",
        ));
    }
    let bytes = request::body_bytes(req.into_body(), MAX_FORM_BYTES, state.body_timeout).await?;
    Ok(url::form_urlencoded::parse(&bytes).into_owned().collect())
}

/// False when the request names an `Origin` whose host is not the one it was sent to.
fn same_origin(headers: &http::HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, h)| h);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

async fn login(
    sessions: &Sessions,
    state: &ApiState,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    if sessions.open() {
        return redirect("/console/webhooks");
    }
    if !same_origin(req.headers()) {
        return cross_site();
    }
    let form = match read_form(state, req).await {
        Ok(f) => f,
        Err(e) => return login_page(e.status, Some(&e.message)),
    };
    let token = form.get("token").map(String::as_str).unwrap_or("");
    if !sessions.token_matches(token) {
        tracing::info!("console: sign-in refused (wrong token)");
        return login_page(StatusCode::UNAUTHORIZED, Some("Wrong token."));
    }
    let Ok(cookie) = sessions.issue() else {
        return login_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("Cannot sign in: the system random generator failed."),
        );
    };
    let mut res = redirect("/console/webhooks");
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(&cookie)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

fn login_page(status: StatusCode, message: Option<&str>) -> Response<Full<Bytes>> {
    let body = format!(
        "{}<form method=\"post\" action=\"/console/login\" id=\"login\">\
         <label>Admin token <input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"current-password\" required></label> \
         <button type=\"submit\" id=\"sign-in\">Sign in</button></form>",
        message.map(|m| notice(m, true)).unwrap_or_default()
    );
    respond(status, page("Sign in", None, &body))
}

fn cross_site() -> Response<Full<Bytes>> {
    refused(
        StatusCode::FORBIDDEN,
        "Refused: the request came from another site.",
    )
}

fn refused(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    respond(
        status,
        page(
            "Refused",
            None,
            &format!(
                "{}<p><a href=\"/console/login\">Sign in</a></p>",
                notice(message, true)
            ),
        ),
    )
}

fn not_found(path: &str) -> Response<Full<Bytes>> {
    respond(
        StatusCode::NOT_FOUND,
        page(
            "Not found",
            None,
            &notice(&format!("No console page {path}."), true),
        ),
    )
}

fn error_page(ctx: &Ctx<'_>, e: ApiError) -> Response<Full<Bytes>> {
    let message = e.describe();
    respond(
        e.status,
        page(
            "Error",
            Some(&ctx.csrf),
            &format!(
                "{}<p><a href=\"/console/webhooks\">Back to webhooks</a></p>",
                notice(&message, true)
            ),
        ),
    )
}
