//! Heketi's object ids: 16 random bytes as 32 lower-case hex characters.

use rand::RngCore;

/// A fresh id for any entity, queue entry or operation.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What Heketi's router accepts in an `{id}` path segment: `[A-Fa-f0-9]+`.
pub fn is_route_id(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What request bodies must carry where Heketi checks ids: exactly 32 hex characters.
pub fn is_full_id(value: &str) -> bool {
    value.len() == 32 && is_route_id(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_32_lowercase_hex_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_ne!(a, b);
    }

    #[test]
    fn route_ids_follow_heketis_pattern() {
        assert!(is_route_id("ABCdef0123"));
        assert!(!is_route_id(""));
        assert!(!is_route_id("badid"));
        assert!(is_full_id("0e2f6b3c9a8d4e17b5f0c2a19d7e6b41"));
        assert!(!is_full_id("0e2f6b3c9a8d4e17b5f0c2a19d7e6b4"));
        assert!(!is_full_id("bad_id"));
    }
}
