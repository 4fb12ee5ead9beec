//! The bearer token check, in constant time: both sides are reduced to HMAC tags under a
//! per-process random key and the tags compared with `ring::hmac::verify`, so neither the
//! content nor the length of the expected token leaks through timing.

use std::net::SocketAddr;

use http::{header, HeaderMap};
use ring::{hmac, rand::SystemRandom};

/// Why the API may not start as configured.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthConfigError {
    #[error(
        "HERALD_ADMIN_TOKEN is not set; set it, or bind HERALD_LISTEN to loopback and pass \
         --insecure-no-auth"
    )]
    TokenMissing,
    #[error(
        "--insecure-no-auth is only allowed when HERALD_LISTEN is a loopback address, not {0}"
    )]
    NotLoopback(SocketAddr),
}

/// The start-up rule of `herald run`: a token is required unless the API is bound to
/// loopback and `insecure_no_auth` is given (the caller then warns). Answers whether the API
/// runs without authentication.
pub fn check_auth_config(
    listen: SocketAddr,
    token: Option<&str>,
    insecure_no_auth: bool,
) -> Result<bool, AuthConfigError> {
    match (token, insecure_no_auth) {
        (Some(_), _) => Ok(false),
        (None, true) if listen.ip().is_loopback() => Ok(true),
        (None, true) => Err(AuthConfigError::NotLoopback(listen)),
        (None, false) => Err(AuthConfigError::TokenMissing),
    }
}

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

    /// True when `presented` is the token (the console's sign-in form).
    pub fn matches(&self, presented: &str) -> bool {
        hmac::verify(&self.key, presented.as_bytes(), self.expected.as_ref()).is_ok()
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
        self.matches(presented.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::request::one_header;

    fn headers(v: &str) -> HeaderMap {
        one_header(header::AUTHORIZATION, v)
    }

    #[test]
    fn check_auth_config_requires_a_token_off_loopback() {
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(check_auth_config(any, Some("t"), false), Ok(false));
        assert_eq!(check_auth_config(lo, None, true), Ok(true));
        assert_eq!(
            check_auth_config(any, None, true),
            Err(AuthConfigError::NotLoopback(any))
        );
        assert_eq!(
            check_auth_config(lo, None, false),
            Err(AuthConfigError::TokenMissing)
        );
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
