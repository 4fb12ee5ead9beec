//! Standard Webhooks signatures over `"{id}.{timestamp}.{body}"`: `v1,` + base64 of its
//! HMAC-SHA256 with the webhook's secret (the default), or `v1a,` + base64 of its ed25519
//! signature with the webhook's signing key.
//!
//! During a secret rotation's grace period the header carries one signature per secret,
//! separated by a space (`v1,abc= v1,def=`); a receiver accepts the message if any of them
//! verifies with a secret (or public key) it knows.

use base64::{engine::general_purpose::STANDARD, Engine};
use ring::hmac;

use crate::domain::secret::{Ed25519Secret, SigningSecret, WebhookSecret};

/// The symmetric scheme (HMAC-SHA256).
pub const SCHEME_V1: &str = "v1";
/// The asymmetric scheme (ed25519).
pub const SCHEME_V1A: &str = "v1a";

fn signed_content(msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut signed = Vec::with_capacity(msg_id.len() + body.len() + 24);
    signed.extend_from_slice(msg_id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(timestamp.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    signed
}

/// One ed25519 signature, `v1a,<base64 of 64 bytes>`.
pub fn sign_ed25519(key: &Ed25519Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let sig = key
        .key_pair()
        .sign(&signed_content(msg_id, timestamp, body));
    format!("{SCHEME_V1A},{}", STANDARD.encode(sig.as_ref()))
}

/// One signature with `secret`, in its scheme.
pub fn sign_with(secret: &SigningSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    match secret {
        SigningSecret::Hmac(s) => sign(s.key_bytes(), msg_id, timestamp, body),
        SigningSecret::Ed25519(k) => sign_ed25519(k, msg_id, timestamp, body),
    }
}

/// The `webhook-signature` header value for secrets of either scheme: one signature per
/// secret (current first), separated by a space.
pub fn header(secrets: &[SigningSecret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| sign_with(s, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

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
    let signed = signed_content(msg_id, timestamp, body);
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

    #[test]
    fn sign_ed25519_verifies_with_the_public_key_and_header_mixes_schemes() {
        use ring::signature::{UnparsedPublicKey, ED25519};
        let key = Ed25519Secret::generate().expect("rng");
        let token = sign_ed25519(&key, MSG_ID, TIMESTAMP, BODY);
        let sig = STANDARD
            .decode(token.strip_prefix("v1a,").expect("v1a"))
            .expect("base64");
        assert_eq!(sig.len(), 64);
        let public = UnparsedPublicKey::new(&ED25519, key.public_key_bytes());
        let message = format!("{MSG_ID}.{TIMESTAMP}.").into_bytes();
        let message = [message.as_slice(), BODY].concat();
        assert!(public.verify(&message, &sig).is_ok());
        assert!(public.verify(b"other", &sig).is_err());

        let both = header(
            &[key.into(), vector_secret().into()],
            MSG_ID,
            TIMESTAMP,
            BODY,
        );
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts[0], token, "ed25519 signatures are deterministic");
        assert_eq!(parts[1], EXPECTED);
    }
}
