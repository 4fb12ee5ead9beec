//! Console sign-in without server-side state: the session cookie is
//! `v1.<expiry>.<nonce>.<tag>` with `tag = HMAC(key, "v1.<expiry>.<nonce>")`, and each
//! session's CSRF token is `HMAC(key, "csrf." + cookie)`. The key is derived from the admin
//! token, so every replica accepts the cookies of the others and changing the token signs
//! everyone out. Tags are checked with `ring::hmac::verify` (constant time); the admin token
//! itself with the API's [`TokenCheck`].

use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use http::{header, HeaderMap};
use ring::{hmac, rand::SecureRandom};

use crate::api::TokenCheck;

/// The cookie's name.
pub const COOKIE: &str = "herald_console";
/// How long a sign-in lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Signs and checks sessions.
pub struct Sessions {
    key: hmac::Key,
    /// `None`: the API runs without a token (loopback, `--insecure-no-auth`); so does the
    /// console, but its forms still carry CSRF tokens.
    token: Option<TokenCheck>,
}

/// A signed-in session, as read from its cookie.
#[derive(Debug, Clone)]
pub struct Session {
    cookie: String,
}

impl Sessions {
    pub fn new(admin_token: Option<&str>) -> Result<Self, ring::error::Unspecified> {
        let rng = ring::rand::SystemRandom::new();
        let key = match admin_token {
            Some(t) => {
                let root = hmac::Key::new(hmac::HMAC_SHA256, t.as_bytes());
                let derived = hmac::sign(&root, b"herald console session v1");
                hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
            }
            None => {
                let mut bytes = [0u8; 32];
                rng.fill(&mut bytes)?;
                hmac::Key::new(hmac::HMAC_SHA256, &bytes)
            }
        };
        let token = admin_token.map(TokenCheck::new).transpose()?;
        Ok(Self { key, token })
    }

    /// Whether signing in is needed at all.
    pub fn open(&self) -> bool {
        self.token.is_none()
    }

    /// True when `presented` is the admin token (constant time).
    pub fn token_matches(&self, presented: &str) -> bool {
        self.token.as_ref().is_some_and(|t| t.matches(presented))
    }

    /// A new session's cookie value.
    pub fn issue(&self) -> Result<String, ring::error::Unspecified> {
        let mut nonce = [0u8; 16];
        ring::rand::SystemRandom::new().fill(&mut nonce)?;
        let expiry = Utc::now().timestamp() + SESSION_TTL.as_secs() as i64;
        let body = format!("v1.{expiry}.{}", B64.encode(nonce));
        let tag = hmac::sign(&self.key, body.as_bytes());
        Ok(format!("{body}.{}", B64.encode(tag.as_ref())))
    }

    /// The session of a request: its cookie, when it is ours and not expired. Without a token
    /// every request has the same (anonymous) session.
    pub fn session(&self, headers: &HeaderMap) -> Option<Session> {
        if self.open() {
            return Some(Session {
                cookie: "anonymous".to_owned(),
            });
        }
        let cookie = cookie_value(headers, COOKIE)?;
        let (body, tag) = cookie.rsplit_once('.')?;
        let tag = B64.decode(tag).ok()?;
        hmac::verify(&self.key, body.as_bytes(), &tag).ok()?;
        let expiry: i64 = body.split('.').nth(1)?.parse().ok()?;
        (expiry > Utc::now().timestamp()).then(|| Session {
            cookie: cookie.to_owned(),
        })
    }

    /// The CSRF token of `session`, put in every form.
    pub fn csrf(&self, session: &Session) -> String {
        let tag = hmac::sign(&self.key, format!("csrf.{}", session.cookie).as_bytes());
        B64.encode(tag.as_ref())
    }

    /// True when `presented` is `session`'s CSRF token (constant time).
    pub fn csrf_matches(&self, session: &Session, presented: &str) -> bool {
        let Ok(tag) = B64.decode(presented) else {
            return false;
        };
        hmac::verify(
            &self.key,
            format!("csrf.{}", session.cookie).as_bytes(),
            &tag,
        )
        .is_ok()
    }
}

/// The `Set-Cookie` value that signs in: `HttpOnly`, `SameSite=Strict`, scoped to `/console`.
pub fn set_cookie(value: &str) -> String {
    format!(
        "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_TTL.as_secs()
    )
}

/// The `Set-Cookie` value that signs out.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::request::one_header;

    fn with_cookie(v: &str) -> HeaderMap {
        one_header(header::COOKIE, v)
    }

    #[test]
    fn sessions_accept_their_own_cookies_only() {
        let s = Sessions::new(Some("correct-horse-battery")).unwrap();
        assert!(s.token_matches("correct-horse-battery"));
        assert!(!s.token_matches("correct-horse-batter"));
        let cookie = s.issue().unwrap();
        let session = s
            .session(&with_cookie(&format!("a=b; {COOKIE}={cookie}")))
            .expect("own cookie");
        let csrf = s.csrf(&session);
        assert!(s.csrf_matches(&session, &csrf));
        assert!(!s.csrf_matches(&session, "AAAA"));
        // Another token (another deployment) refuses it; so does a tampered one.
        let other = Sessions::new(Some("another-token-entirely")).unwrap();
        assert!(other
            .session(&with_cookie(&format!("{COOKIE}={cookie}")))
            .is_none());
        let tampered = cookie.replacen("v1.", "v1.9", 1);
        assert!(s
            .session(&with_cookie(&format!("{COOKIE}={tampered}")))
            .is_none());
        assert!(s.session(&HeaderMap::new()).is_none());
        // The same token on another replica accepts it.
        let replica = Sessions::new(Some("correct-horse-battery")).unwrap();
        let seen = replica
            .session(&with_cookie(&format!("{COOKIE}={cookie}")))
            .unwrap();
        assert!(replica.csrf_matches(&seen, &csrf));
    }

    #[test]
    fn cookie_is_http_only_and_same_site_strict() {
        let c = set_cookie("x");
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/console")
        );
    }
}
