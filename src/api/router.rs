//! From a request to a response: look the route up, check the token, read and parse the
//! body, call the handler, turn errors into JSON.

use std::{convert::Infallible, sync::Arc, time::Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use serde_json::json;

use super::{
    auth::TokenCheck,
    deliveries,
    error::{json_response, no_content, ApiError},
    events, health, request,
    routes::{lookup, Endpoint, Lookup},
    webhooks, ApiState,
};

/// What every request shares.
pub struct Shared {
    pub state: ApiState,
    /// `None`: no token configured, every route is open (loopback with `--insecure-no-auth`).
    pub token: Option<TokenCheck>,
}

impl Shared {
    /// Fails only when the system random generator does.
    pub fn new(state: ApiState) -> std::io::Result<Self> {
        let token = match &state.admin_token {
            Some(t) => Some(TokenCheck::new(t).map_err(|_| {
                std::io::Error::other(
                    "cannot key the token check: the system random generator failed",
                )
            })?),
            None => None,
        };
        Ok(Self { state, token })
    }
}

pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let res = match lookup(method.as_str(), &path) {
        Lookup::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route {method} {path}"),
        )
        .into_response(),
        Lookup::MethodNotAllowed(allowed) => {
            let mut res = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{path} allows {}", allowed.join(", ")),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                res.headers_mut().insert(header::ALLOW, v);
            }
            res
        }
        Lookup::Found(route, params) => {
            let allowed = match (&shared.token, route.auth) {
                (Some(token), true) => token.allows(req.headers()),
                _ => true,
            };
            if allowed {
                let mut res = dispatch(&shared.state, route.endpoint, &params, req)
                    .await
                    .unwrap_or_else(ApiError::into_response);
                if res.status() == StatusCode::REQUEST_TIMEOUT {
                    // The rest of a slow body is not waited for: the connection ends here.
                    res.headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                res
            } else {
                let mut res = ApiError::unauthorized().into_response();
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                res
            }
        }
    };
    tracing::debug!(
        %method,
        path,
        status = res.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "admin api request"
    );
    Ok(res)
}

async fn body<T: DeserializeOwned>(
    state: &ApiState,
    req: Request<Incoming>,
) -> Result<T, ApiError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
    let bytes =
        request::body_bytes(req.into_body(), state.max_body_bytes, state.body_timeout).await?;
    request::json_content_type(content_type.as_ref(), bytes.is_empty())?;
    request::json(&bytes)
}

/// The path parameters as UUIDs, in template order; 400 naming the one that is not.
fn ids<const N: usize>(params: &[String], names: [&str; N]) -> Result<[Uuid; N], ApiError> {
    let mut out = [Uuid::nil(); N];
    for (i, name) in names.iter().enumerate() {
        let raw = params.get(i).ok_or_else(|| {
            tracing::error!(param = name, "the route table and the dispatcher disagree");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; see the server log",
            )
        })?;
        out[i] = request::uuid(name, raw)?;
    }
    Ok(out)
}

async fn dispatch(
    state: &ApiState,
    endpoint: Endpoint,
    params: &[String],
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    use Endpoint::*;
    Ok(match endpoint {
        Healthz => health::healthz(),
        Readyz => health::readyz(state).await,
        Metrics => health::metrics(state),
        OpenApi => health::openapi(state),
        ListWebhooks => {
            let [user] = ids(params, ["user_id"])?;
            ok(&json!({ "data": webhooks::list(state, user).await? }))
        }
        CreateWebhook => {
            let [user] = ids(params, ["user_id"])?;
            created(&webhooks::create(state, user, body(state, req).await?).await?)
        }
        GetWebhook => {
            let [user, id] = ids(params, ["user_id", "webhook_id"])?;
            ok(&webhooks::get(state, user, id).await?)
        }
        UpdateWebhook => {
            let [user, id] = ids(params, ["user_id", "webhook_id"])?;
            ok(&webhooks::update(state, user, id, body(state, req).await?).await?)
        }
        DeleteWebhook => {
            let [user, id] = ids(params, ["user_id", "webhook_id"])?;
            webhooks::delete(state, user, id).await?;
            no_content()
        }
        RotateSecret => {
            let [user, id] = ids(params, ["user_id", "webhook_id"])?;
            ok(&webhooks::rotate_secret(state, user, id, body(state, req).await?).await?)
        }
        ListDeliveries => {
            let [user, id] = ids(params, ["user_id", "webhook_id"])?;
            let query = deliveries::ListQuery::parse(req.uri().query())?;
            ok(&deliveries::list(state, user, id, &query).await?)
        }
        RecoverDeliveries => {
            let [user, id] = ids(params, ["user_id", "webhook_id"])?;
            ok(&deliveries::recover(state, user, id, body(state, req).await?).await?)
        }
        RetryDelivery => {
            let [id] = ids(params, ["delivery_id"])?;
            ok(&deliveries::retry(state, id).await?)
        }
        ListEventTypes => ok(&json!({ "data": events::list_types(state).await? })),
        RegisterEventType => {
            let registered = events::register_type(state, body(state, req).await?).await?;
            let status = if registered.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            json_response(status, &registered.event_type)
        }
        EmitEvent => created(&events::emit(state, body(state, req).await?).await?),
        GrantPlatformManager => {
            let [user] = ids(params, ["user_id"])?;
            events::grant_manager(state, user).await?;
            no_content()
        }
        RevokePlatformManager => {
            let [user] = ids(params, ["user_id"])?;
            events::revoke_manager(state, user).await?;
            no_content()
        }
    })
}

fn ok<T: serde::Serialize>(body: &T) -> Response<Full<Bytes>> {
    json_response(StatusCode::OK, body)
}

fn created<T: serde::Serialize>(body: &T) -> Response<Full<Bytes>> {
    json_response(StatusCode::CREATED, body)
}
