//! Reading requests: the body within its size limit, JSON into a type (unknown fields are
//! refused by the types themselves), path ids and query parameters. Every refusal names the
//! field it is about.

use std::collections::HashMap;

use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::ApiError;

/// The body, refused with 413 when longer than `max_bytes`.
pub async fn body_bytes(body: Incoming, max_bytes: usize) -> Result<bytes::Bytes, ApiError> {
    match Limited::new(body, max_bytes).collect().await {
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

/// Parses a JSON body into `T`. An empty body parses as `{}` so that routes whose fields are
/// all optional accept no body at all.
pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| {
        let message = e.to_string();
        let field = named_field(&message);
        let mut err = ApiError::bad_request("", format!("invalid JSON body: {message}"));
        err.field = field;
        err
    })
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

    #[test]
    fn query_refuses_unknown_parameters() {
        let err = query(Some("limit=5&colour=red"), &["limit"]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("colour"));
        let ok = query(Some("limit=5"), &["limit"]).unwrap();
        assert_eq!(ok["limit"], "5");
    }
}
