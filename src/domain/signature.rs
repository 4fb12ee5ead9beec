//! Standard Webhooks signatures: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
//!
//! During a secret rotation's grace period the header carries one signature per secret,
//! separated by a space (`v1,abc= v1,def=`); a receiver accepts the message if any of them
//! verifies with a secret it knows.

use base64::{engine::general_purpose::STANDARD, Engine};
use ring::hmac;

use crate::domain::secret::WebhookSecret;

/// The only signature scheme Herald writes (symmetric HMAC-SHA256).
pub const SCHEME_V1: &str = "v1";

fn key(secret_key: &[u8]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, secret_key)
}

fn tag(key: &hmac::Key, msg_id: &str, timestamp: i64, body: &[u8]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(msg_id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    ctx.sign()
}

/// One signature, `v1,<base64>`.
pub fn sign(secret_key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = tag(&key(secret_key), msg_id, timestamp, body);
    format!("{SCHEME_V1},{}", STANDARD.encode(tag.as_ref()))
}

/// The `webhook-signature` header value: one signature per secret (current first, then the
/// previous one while in grace), separated by a space.
pub fn signature_header(
    secrets: &[&WebhookSecret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| sign(s.key_bytes(), msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// True when any `v1` signature in `header` is valid for `secret`. The comparison is constant
/// time (`ring::hmac::verify`). Unknown schemes and malformed entries are skipped. Checking the
/// timestamp's freshness is the caller's business.
pub fn verify(
    header: &str,
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> bool {
    let key = key(secret.key_bytes());
    let mut signed = Vec::with_capacity(msg_id.len() + body.len() + 24);
    signed.extend_from_slice(msg_id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(timestamp.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    header
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(scheme, _)| *scheme == SCHEME_V1)
        .filter_map(|(_, sig)| STANDARD.decode(sig).ok())
        .any(|sig| hmac::verify(&key, &signed, &sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn vector_secret() -> WebhookSecret {
        WebhookSecret::parse(SECRET).expect("vector secret parses")
    }

    #[test]
    fn sign_matches_the_standard_webhooks_vector() {
        let secret = vector_secret();
        assert_eq!(sign(secret.key_bytes(), MSG_ID, TIMESTAMP, BODY), EXPECTED);
    }

    #[test]
    fn signature_header_joins_one_signature_per_secret_with_a_space() {
        let current = WebhookSecret::generate().expect("rng");
        let previous = vector_secret();
        let header = signature_header(&[&current, &previous], MSG_ID, TIMESTAMP, BODY);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], sign(current.key_bytes(), MSG_ID, TIMESTAMP, BODY));
        assert_eq!(parts[1], EXPECTED);
    }

    #[test]
    fn verify_accepts_the_vector_and_any_of_several_signatures() {
        let secret = vector_secret();
        assert!(verify(EXPECTED, &secret, MSG_ID, TIMESTAMP, BODY));
        let other = WebhookSecret::generate().expect("rng");
        let header = signature_header(&[&other, &secret], MSG_ID, TIMESTAMP, BODY);
        assert!(verify(&header, &secret, MSG_ID, TIMESTAMP, BODY));
        assert!(verify(&header, &other, MSG_ID, TIMESTAMP, BODY));
        assert!(verify(
            &format!("v2,abc {EXPECTED}"),
            &secret,
            MSG_ID,
            TIMESTAMP,
            BODY
        ));
    }

    #[test]
    fn verify_refuses_tampering_and_wrong_secrets() {
        let secret = vector_secret();
        assert!(!verify(EXPECTED, &secret, MSG_ID, TIMESTAMP + 1, BODY));
        assert!(!verify(EXPECTED, &secret, "msg_other", TIMESTAMP, BODY));
        assert!(!verify(
            EXPECTED,
            &secret,
            MSG_ID,
            TIMESTAMP,
            br#"{"test": 2432232315}"#
        ));
        let other = WebhookSecret::generate().expect("rng");
        assert!(!verify(EXPECTED, &other, MSG_ID, TIMESTAMP, BODY));
    }

    #[test]
    fn verify_refuses_malformed_headers() {
        let secret = vector_secret();
        for header in [
            "",
            " ",
            "v1,",
            "v1,not-base64!",
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ] {
            assert!(
                !verify(header, &secret, MSG_ID, TIMESTAMP, BODY),
                "{header:?} must not verify"
            );
        }
    }
}
