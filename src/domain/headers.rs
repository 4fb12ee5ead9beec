//! A webhook's custom headers: static headers added to every request. The same rules hold in
//! SQL (`herald.refused_header`), so a row written without the API is held to them too.

use std::fmt;

/// Most custom headers per webhook.
pub const MAX_HEADERS: usize = 16;
/// Longest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;

/// Names Herald sets itself or that belong to the connection (hop-by-hop); `webhook-*` too.
const RESERVED: &[&str] = &[
    "content-type",
    "user-agent",
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// Why a custom header is refused; names the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError {
    /// The refused header's name (empty when the whole value is wrong).
    pub name: String,
    pub reason: &'static str,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            f.write_str(self.reason)
        } else {
            write!(f, "header {:?}: {}", self.name, self.reason)
        }
    }
}

impl std::error::Error for HeaderError {}

/// Whether Herald sets this header itself or it is hop-by-hop.
pub fn is_reserved(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("webhook-") || RESERVED.contains(&lower.as_str())
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+.^_`|~-".contains(&b))
}

/// Checks one header.
pub fn check(name: &str, value: &str) -> Result<(), HeaderError> {
    let refuse = |reason| {
        Err(HeaderError {
            name: name.to_owned(),
            reason,
        })
    };
    if !is_token(name) {
        return refuse("not a valid header name");
    }
    if is_reserved(name) {
        return refuse("set by Herald or hop-by-hop; it cannot be overridden");
    }
    if value.len() > MAX_VALUE_BYTES {
        return refuse("the value is longer than 1 KiB");
    }
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return refuse("the value contains control characters");
    }
    Ok(())
}

/// Checks a JSON `headers` value (an object of string values) and returns its pairs.
pub fn parse(value: &serde_json::Value) -> Result<Vec<(String, String)>, HeaderError> {
    let whole = |reason| {
        Err(HeaderError {
            name: String::new(),
            reason,
        })
    };
    let Some(map) = value.as_object() else {
        return whole("headers must be a JSON object of string values");
    };
    if map.len() > MAX_HEADERS {
        return whole("at most 16 custom headers are allowed");
    }
    let mut pairs = Vec::with_capacity(map.len());
    for (name, value) in map {
        let Some(text) = value.as_str() else {
            return Err(HeaderError {
                name: name.clone(),
                reason: "the value must be a string",
            });
        };
        check(name, text)?;
        pairs.push((name.clone(), text.to_owned()));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn accepts_plain_headers() {
        let pairs = parse(&json!({"X-Team": "billing", "Authorization": "Bearer t"})).unwrap();
        assert_eq!(pairs.len(), 2);
    }

    #[test]
    fn refuses_herald_and_hop_by_hop_headers_naming_them() {
        for name in [
            "Webhook-Id",
            "content-type",
            "Host",
            "Transfer-Encoding",
            "user-agent",
        ] {
            let e = parse(&json!({ name: "x" })).unwrap_err();
            assert_eq!(e.name, name);
            assert!(e.to_string().contains(name), "{e}");
        }
    }

    #[test]
    fn refuses_bad_names_values_and_shapes() {
        assert!(parse(&json!({"bad name": "x"})).is_err());
        assert!(parse(&json!({"X-N": 1})).is_err());
        assert!(parse(&json!({"X-L": "a".repeat(1025)})).is_err());
        assert!(parse(&json!({"X-C": "a\nb"})).is_err());
        assert!(parse(&json!(["x"])).is_err());
        let many: serde_json::Map<String, serde_json::Value> =
            (0..17).map(|i| (format!("X-{i}"), json!("v"))).collect();
        assert!(parse(&serde_json::Value::Object(many)).is_err());
    }
}
