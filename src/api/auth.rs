//! The bearer token check, in constant time: both sides are reduced to HMAC tags under a
//! per-process random key and the tags compared with `ring::hmac::verify`, so neither the
//! content nor the length of the expected token leaks through timing.

use http::{header, HeaderMap};
use ring::{hmac, rand::SystemRandom};

pub struct TokenCheck {
    key: hmac::Key,
    expected: hmac::Tag,
}

impl TokenCheck {
    pub fn new(token: &str) -> Result<Self, ring::error::Unspecified> {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())?;
        let expected = hmac::sign(&key, token.as_bytes());
        Ok(Self { key, expected })
    }

    /// True when `headers` carry `Authorization: Bearer <token>` with the right token.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(presented) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        hmac::verify(
            &self.key,
            presented.trim().as_bytes(),
            self.expected.as_ref(),
        )
        .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn token_check_allows_only_the_right_bearer_token() {
        let check = TokenCheck::new("correct-horse-battery").unwrap();
        assert!(check.allows(&headers("Bearer correct-horse-battery")));
        assert!(!check.allows(&headers("Bearer correct-horse-batter")));
        assert!(!check.allows(&headers("Basic correct-horse-battery")));
        assert!(!check.allows(&HeaderMap::new()));
    }
}
