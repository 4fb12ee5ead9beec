//! The API's errors and how they are answered: `{"error": {"code", "message", "field"?}}`.
//! Internal errors answer 500 with an opaque message and are logged once, here, without
//! anything a database error's detail could carry (row contents may include a secret).

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::Full;
use serde_json::json;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400: the request itself is malformed or a field is invalid.
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message).with_field(field)
    }

    /// 422: well-formed, but refers to something that does not exist or does not fit.
    pub fn unprocessable(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message).with_field(field)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        )
    }

    /// 500 with an opaque message; logs the cause once.
    pub fn internal(context: &str, err: &StoreError) -> Self {
        match (err.sqlstate(), err.db_message()) {
            (Some(code), Some(message)) => {
                tracing::error!(sqlstate = code.code(), error = message, "{context} failed")
            }
            _ => tracing::error!(error = %err, "{context} failed"),
        }
        let status = if err.is_transient() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Self::new(status, "internal", "internal error; see the server log")
    }

    /// The message for people, prefixed with the field when it does not name it already
    /// (`url: must use http or https`).
    pub fn describe(&self) -> String {
        match &self.field {
            Some(f) if !f.is_empty() && !self.message.starts_with(f.as_str()) => {
                format!("{f}: {}", self.message)
            }
            _ => self.message.clone(),
        }
    }

    pub fn into_response(self) -> Response<Full<Bytes>> {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(field) = self.field {
            error["field"] = field.into();
        }
        json_response(self.status, &json!({ "error": error }))
    }
}

/// What a store lookup found: the row; 404 naming `what` when there is none; 500 when the
/// store failed, logged as `doing`.
pub fn found<T>(
    looked_up: Result<Option<T>, StoreError>,
    doing: &str,
    what: &str,
) -> Result<T, ApiError> {
    looked_up
        .map_err(|e| ApiError::internal(doing, &e))?
        .ok_or_else(|| ApiError::not_found(what))
}

/// A JSON response. Serialising our own types cannot fail; if it ever did, the answer is an
/// empty 500.
pub fn json_response<T: serde::Serialize + ?Sized>(
    status: StatusCode,
    body: &T,
) -> Response<Full<Bytes>> {
    match serde_json::to_vec(body) {
        Ok(bytes) => response(status, "application/json", bytes),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a response");
            response(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", Vec::new())
        }
    }
}

pub fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    res
}

pub fn no_content() -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::NO_CONTENT;
    res
}
