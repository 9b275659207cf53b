//! Object ids as Heketi's look: 16 bytes as 32 lower-case hex characters.
//! Brickyard's begin with a clock, so that ids made one after another sort
//! next to each other.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::RngCore;

/// The last stamp given, so that stamps only grow within a process.
static LAST_STAMP: AtomicU64 = AtomicU64::new(0);

/// A fresh id for any entity, queue entry or operation: 4 bytes of the
/// clock in microseconds (modulo 2^32, so it wraps every 71 minutes), then
/// 12 random bytes.
///
/// The store keys records, relations and indexes by id; with ids made in
/// order, a create's keys land next to the previous create's, on leaves
/// the store's cache holds, where random ids sent each create to leaves all
/// over a store larger than its cache. The clock sits in the first 8
/// characters, which must differ between volumes as random ones do:
/// heketi-cli names a volume's PersistentVolume `glusterfs-<first 8>`.
/// Placement draws on the random end (`placement::ring::start_for`).
pub fn new_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or_default();
    let next = |last: u64| now.max(last.saturating_add(1));
    let stamp = LAST_STAMP
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(next(last)))
        .map_or(now, next);
    id_at(stamp, &mut rand::thread_rng())
}

fn id_at(stamp: u64, random: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&stamp.to_be_bytes()[4..]);
    random.fill_bytes(&mut bytes[4..]);
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
    fn ids_begin_with_the_clock_so_later_ones_sort_after() {
        let mut random = rand::thread_rng();
        let early = id_at(0x0006_2f00_1234_5678, &mut random);
        let late = id_at(0x0006_2f00_1234_5679, &mut random);
        assert!(early.starts_with("12345678"), "{early}");
        assert!(late.starts_with("12345679"), "{late}");
        assert!(early < late);
        assert!(id_at(0x0006_2f00_ffff_ffff, &mut random).starts_with("ffffffff"));
        assert!(
            id_at(0x0006_2f01_0000_0000, &mut random).starts_with("00000000"),
            "it wraps"
        );
    }

    #[test]
    fn ids_made_in_a_row_have_distinct_growing_stamps() {
        let stamp = |id: &str| u32::from_str_radix(&id[..8], 16).unwrap();
        let ids: Vec<String> = (0..2000).map(|_| new_id()).collect();
        for pair in ids.windows(2) {
            // Modulo 2^32: the clock may wrap between two ids.
            let step = stamp(&pair[1]).wrapping_sub(stamp(&pair[0]));
            assert!((1..1 << 31).contains(&step), "{} then {}", pair[0], pair[1]);
        }
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
