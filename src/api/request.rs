//! Reading requests: the body within its size limit and its deadline, JSON into a type
//! (unknown fields are refused by the types themselves), path ids and query parameters. Every
//! refusal names the field it is about.

use std::{collections::HashMap, time::Duration};

use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::ApiError;

/// The body, refused with 413 when longer than `max_bytes` and with 408 when it has not
/// arrived whole within `deadline` (a client sending a byte now and then cannot hold a
/// connection for longer than that).
pub async fn body_bytes(
    body: Incoming,
    max_bytes: usize,
    deadline: Duration,
) -> Result<bytes::Bytes, ApiError> {
    let collected = tokio::time::timeout(deadline, Limited::new(body, max_bytes).collect());
    let Ok(collected) = collected.await else {
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} s",
                deadline.as_secs_f64()
            ),
        ));
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is over the limit of {max_bytes} bytes"),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!("cannot read the request body: {e}"),
        )),
    }
}

/// A body must be sent as `application/json` (or a `+json` type); a request without a body
/// needs no content type. Anything else answers 415.
pub fn json_content_type(
    content_type: Option<&http::HeaderValue>,
    body_is_empty: bool,
) -> Result<(), ApiError> {
    let refused = |shown: &str| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("the request body must be sent as content-type: application/json, not {shown}"),
        )
        .with_field("content-type")
    };
    let Some(value) = content_type else {
        return if body_is_empty {
            Ok(())
        } else {
            Err(refused("none"))
        };
    };
    let text = value.to_str().unwrap_or("");
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(refused(&format!("{text:?}")))
    }
}

/// Parses a JSON body into `T`. An empty body parses as `{}` so that routes whose fields are
/// all optional accept no body at all. Every refusal of a value names its field: a value of
/// the wrong type (`{"url": 123}`), an unknown or missing field, and any string or key that
/// contains NUL (`\u0000`, which PostgreSQL cannot store in text or jsonb).
pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        let mut err = ApiError::bad_request("", format!("invalid JSON body: {e}"));
        err.field = None;
        err
    })?;
    json_value(value)
}

/// [`json`] for a value already parsed (the command line's `--data`).
pub fn json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if let Some(field) = nul_path(&value, String::new()) {
        return Err(ApiError::bad_request(
            field.clone(),
            format!("{field}: text may not contain the NUL character (\\u0000)"),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = if path.is_empty() || path == "." {
            named_field(&message)
        } else {
            Some(path)
        };
        let mut err = ApiError::bad_request(
            "",
            match &field {
                Some(f) if !message.starts_with('`') => format!("{f}: {message}"),
                _ => message,
            },
        );
        err.field = field;
        err
    })
}

/// The path (`data.items[2].name`) of the first string or object key holding NUL.
fn nul_path(value: &serde_json::Value, here: String) -> Option<String> {
    use serde_json::Value;
    let join = |key: &str| {
        if here.is_empty() {
            key.to_owned()
        } else {
            format!("{here}.{key}")
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => Some(if here.is_empty() {
            "body".to_owned()
        } else {
            here
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_path(v, format!("{here}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(join(&k.replace('\0', "\\u0000")))
            } else {
                nul_path(v, join(k))
            }
        }),
        _ => None,
    }
}

/// The field a serde error names: "unknown field `x`", "missing field `x`", or our own
/// "`x`: ..." messages from custom deserialisers.
fn named_field(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    let name = &message[start..start + len];
    let known = message.starts_with("unknown field")
        || message.starts_with("missing field")
        || message.starts_with('`');
    (known && !name.is_empty()).then(|| name.to_owned())
}

/// A UUID path parameter; 400 naming `field` when it is not one.
pub fn uuid(field: &str, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::bad_request(field, format!("{field} is not a UUID: {raw:?}")))
}

/// The query string's parameters; unknown names and repeats are refused.
pub fn query(raw: Option<&str>, allowed: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let mut params = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            return Err(ApiError::bad_request(
                k.as_ref(),
                format!(
                    "unknown query parameter {k:?}; expected one of {}",
                    allowed.join(", ")
                ),
            ));
        }
        if params.insert(k.to_string(), v.to_string()).is_some() {
            return Err(ApiError::bad_request(
                k.as_ref(),
                format!("query parameter {k:?} given twice"),
            ));
        }
    }
    Ok(params)
}

/// For PATCH bodies: tells an absent field (`None`, via `#[serde(default)]`) from an explicit
/// `null` (`Some(None)`).
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(de).map(Some)
}

/// Request headers holding one `name: value`: for the unit tests of the API and the console.
#[cfg(test)]
pub(crate) fn one_header(name: http::header::HeaderName, value: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(name, value.parse().expect("a valid header value"));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Patch {
        #[serde(default, deserialize_with = "double_option")]
        description: Option<Option<String>>,
        name: Option<String>,
    }

    #[test]
    fn json_tells_absent_from_null() {
        let absent: Patch = json(b"{}").unwrap();
        assert_eq!(absent.description, None);
        let null: Patch = json(br#"{"description": null}"#).unwrap();
        assert_eq!(null.description, Some(None));
        let set: Patch = json(br#"{"description": "x"}"#).unwrap();
        assert_eq!(set.description, Some(Some("x".into())));
        assert_eq!(set.name, None);
    }

    #[test]
    fn json_names_an_unknown_field() {
        let err = json::<Patch>(br#"{"colour": 1}"#).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.field.as_deref(), Some("colour"));
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Typed {
        url: String,
        #[serde(default)]
        enabled: Option<bool>,
        #[serde(default)]
        data: Option<serde_json::Value>,
    }

    #[test]
    fn json_names_the_field_of_a_wrong_type() {
        let err = json::<Typed>(br#"{"url": 123}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("url"), "{err}");
        let err = json::<Typed>(br#"{"url": "x", "enabled": "yes"}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("enabled"), "{err}");
        assert!(err.message.contains("expected a boolean"), "{err}");
        let err = json::<Typed>(br#"{}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("url"), "{err}");
    }

    #[test]
    fn json_names_the_field_holding_nul() {
        let err = json::<Typed>(br#"{"url": "a\u0000b"}"#).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.field.as_deref(), Some("url"), "{err}");
        let err =
            json::<Typed>(br#"{"url": "x", "data": {"a": [1, {"b": "\u0000"}]}}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("data.a[1].b"), "{err}");
        let err = json::<Typed>(br#"{"url": "x", "data": {"k\u0000": 1}}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("data.k\\u0000"), "{err}");
        assert!(json::<Typed>(br#"{"url": "x", "data": {"k": "\u0001"}}"#).is_ok());
    }

    #[test]
    fn query_refuses_unknown_parameters() {
        let err = query(Some("limit=5&colour=red"), &["limit"]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("colour"));
        let ok = query(Some("limit=5"), &["limit"]).unwrap();
        assert_eq!(ok["limit"], "5");
    }
}
