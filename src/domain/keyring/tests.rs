//! Unit tests of the key ring: sealing, opening, rotation, and what errors reveal.

use super::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn ring(keys: &[u8]) -> KeyRing {
    KeyRing::from_keys(&keys.iter().map(|b| [*b; KEY_LEN]).collect::<Vec<_>>())
}

#[test]
fn seal_then_open_round_trips_and_hides_the_plaintext() {
    let keys = ring(&[1]);
    let id = Uuid::new_v4();
    let sealed = keys.seal(SECRET, id).expect("seal");
    assert!(sealed.starts_with(ENVELOPE_PREFIX), "{sealed}");
    assert!(!sealed.contains("whsec_"), "{sealed}");
    assert!(!sealed.contains("MfKQ9r8"), "{sealed}");
    assert_eq!(keys.open(&sealed, id).expect("open"), SECRET);
    assert_ne!(keys.seal(SECRET, id).expect("seal"), sealed, "fresh nonce");
}

#[test]
fn open_refuses_a_ciphertext_moved_to_another_webhook() {
    let keys = ring(&[1]);
    let sealed = keys.seal(SECRET, Uuid::new_v4()).expect("seal");
    let err = keys
        .open(&sealed, Uuid::new_v4())
        .expect_err("bound to its webhook");
    assert!(matches!(err, OpenError::Undecryptable { .. }), "{err}");
}

#[test]
fn open_names_a_missing_key_and_an_unset_ring() {
    let id = Uuid::new_v4();
    let sealed = ring(&[1]).seal(SECRET, id).expect("seal");
    let key_id = ring(&[1]).current_id().expect("id").to_string();
    assert_eq!(
        ring(&[2]).open(&sealed, id),
        Err(OpenError::UnknownKey {
            key_id: key_id.clone()
        })
    );
    assert_eq!(
        KeyRing::none().open(&sealed, id),
        Err(OpenError::NoKeys { key_id })
    );
    // An older key still in the ring opens it.
    assert_eq!(ring(&[2, 1]).open(&sealed, id).expect("open"), SECRET);
}

#[test]
fn open_refuses_tampered_and_malformed_envelopes() {
    let keys = ring(&[1]);
    let id = Uuid::new_v4();
    let sealed = keys.seal(SECRET, id).expect("seal");
    let mut bytes = STANDARD
        .decode(sealed.rsplit(':').next().expect("body"))
        .expect("base64");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let prefix = &sealed[..sealed.rfind(':').expect("colon") + 1];
    let tampered = format!("{prefix}{}", STANDARD.encode(&bytes));
    assert!(matches!(
        keys.open(&tampered, id),
        Err(OpenError::Undecryptable { .. })
    ));
    for bad in [
        "herald-aead:v1:",
        "herald-aead:v1:zz:abc",
        "herald-aead:v1:00000000:not base64!",
        "herald-aead:v1:00000000:AAAA",
    ] {
        assert!(keys.open(bad, id).is_err(), "{bad}");
    }
}

#[test]
fn plaintext_passes_through_and_without_keys_seal_is_plaintext() {
    let id = Uuid::new_v4();
    assert_eq!(ring(&[1]).open(SECRET, id).expect("plain"), SECRET);
    assert_eq!(KeyRing::none().seal(SECRET, id).expect("plain"), SECRET);
    assert!(KeyRing::none().is_current(SECRET));
    assert!(!ring(&[1]).is_current(SECRET));
}

#[test]
fn is_current_follows_the_first_key() {
    let id = Uuid::new_v4();
    let sealed = ring(&[1]).seal(SECRET, id).expect("seal");
    assert!(ring(&[1, 2]).is_current(&sealed));
    assert!(!ring(&[2, 1]).is_current(&sealed));
}

#[test]
fn parse_accepts_a_list_and_refuses_bad_entries_without_echoing_them() {
    let a = STANDARD.encode([1u8; 32]);
    let b = STANDARD.encode([2u8; 32]);
    let keys = KeyRing::parse(&format!("{a}, {b}")).expect("two keys");
    assert_eq!(keys.ids(), ring(&[1, 2]).ids());
    assert_eq!(
        KeyRing::parse(&format!("{a},")),
        Err(KeyRingError::Empty { position: 2 })
    );
    assert_eq!(
        KeyRing::parse("not-base64!"),
        Err(KeyRingError::NotBase64 { position: 1 })
    );
    let short = STANDARD.encode([3u8; 16]);
    let err = KeyRing::parse(&short).expect_err("short");
    assert_eq!(
        err,
        KeyRingError::BadLength {
            position: 1,
            len: 16
        }
    );
    assert!(!err.to_string().contains(&short));
    assert!(matches!(
        KeyRing::parse(&format!("{a},{a}")),
        Err(KeyRingError::Duplicate { position: 2, .. })
    ));
}

#[test]
fn reseal_moves_old_keys_and_plaintext_to_the_current_key() {
    let id = Uuid::new_v4();
    let old = ring(&[1]).seal(SECRET, id).expect("seal");
    let rotated = ring(&[2, 1]);
    let moved = rotated.reseal(&old, id).expect("reseal").expect("changed");
    assert!(rotated.is_current(&moved));
    assert_eq!(ring(&[2]).open(&moved, id).expect("open"), SECRET);
    assert_eq!(rotated.reseal(&moved, id), Ok(None));
    let from_plain = rotated
        .reseal(SECRET, id)
        .expect("reseal")
        .expect("changed");
    assert!(rotated.is_current(&from_plain));
    assert!(matches!(
        ring(&[3]).reseal(&old, id),
        Err(OpenError::UnknownKey { .. })
    ));
}

#[test]
fn debug_shows_key_ids_only() {
    let keys = ring(&[7]);
    let shown = format!("{keys:?}");
    assert!(shown.contains(&keys.current_id().expect("id").to_string()));
    assert!(!shown.contains(&STANDARD.encode([7u8; 32])), "{shown}");
    assert!(!shown.contains("7, 7"), "{shown}");
}
