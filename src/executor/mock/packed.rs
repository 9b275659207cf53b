//! Compact strings for the simulated nodes. At 50,000 volumes the nodes
//! hold 150,000 bricks, each named by its ids in half a dozen strings (two
//! LV keys, a mount point, a device node, an fstab line, a place in its
//! volume's brick list): as `String`s they were most of the server's
//! memory. Packed, each 32-digit hex id takes 16 bytes, a dashed UUID
//! 16, and the path parts every brick repeats one byte each. Any string
//! packs and unpacks to itself; outside this module the state reads and
//! serialises as plain strings, so `<store>.mock-nodes.json` and
//! `brickyard mock-state` do not change.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes 0xF5..=0xFF never occur in UTF-8, so a literal byte of the
/// string never reads as one of these.
const HEX_RUN: u8 = 0xFF;
const DASHED_UUID: u8 = 0xFE;
const FIRST_WORD: u8 = 0xF5;

/// Parts of the names every brick repeats; longest first where one starts
/// another (`/brick_` before `/brick`).
const WORDS: [&str; 9] = [
    "/var/lib/heketi/mounts/",
    " xfs rw,inode64,noatime,nouuid 1 2",
    "/dev/mapper/",
    "/brick_",
    "-brick_",
    "/brick",
    "vg_",
    "tp_",
    "vol_",
];

/// The first bytes of `WORDS`: other bytes need no look at the list.
const WORD_STARTS: &[u8] = b"/ -vt";

const ID_HEX: usize = 32;
const UUID_CHARS: usize = 36;

fn is_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

fn hex_value(b: u8) -> u8 {
    if b.is_ascii_digit() {
        b - b'0'
    } else {
        b - b'a' + 10
    }
}

pub(super) const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// 32 lower-case hex digits as 16 bytes.
fn pack_hex(digits: &[u8], out: &mut Vec<u8>) {
    for pair in digits.chunks(2) {
        out.push((hex_value(pair[0]) << 4) | hex_value(pair[1]));
    }
}

fn unpack_hex(bytes: &[u8], out: &mut Vec<u8>) {
    for b in bytes {
        out.push(HEX_DIGITS[usize::from(b >> 4)]);
        out.push(HEX_DIGITS[usize::from(b & 15)]);
    }
}

/// `8-4-4-4-12` lower-case hex digits, as a UUID prints.
fn is_dashed_uuid(s: &[u8]) -> bool {
    s.len() >= UUID_CHARS
        && s[..UUID_CHARS].iter().enumerate().all(|(i, &b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                is_hex(b)
            }
        })
}

/// A string, packed.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Packed(Box<[u8]>);

impl Packed {
    pub fn new(s: &str) -> Packed {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let rest = &bytes[i..];
            if rest.len() >= ID_HEX && rest[..ID_HEX].iter().all(|&b| is_hex(b)) {
                out.push(HEX_RUN);
                pack_hex(&rest[..ID_HEX], &mut out);
                i += ID_HEX;
            } else if is_dashed_uuid(rest) {
                out.push(DASHED_UUID);
                let digits: Vec<u8> = rest[..UUID_CHARS].iter().copied().filter(|&b| b != b'-').collect();
                pack_hex(&digits, &mut out);
                i += UUID_CHARS;
            } else if let Some(w) = WORD_STARTS
                .contains(&rest[0])
                .then(|| WORDS.iter().position(|w| rest.starts_with(w.as_bytes())))
                .flatten()
            {
                out.push(FIRST_WORD + w as u8);
                i += WORDS[w].len();
            } else {
                out.push(rest[0]);
                i += 1;
            }
        }
        Packed(out.into_boxed_slice())
    }

    pub fn unpack(&self) -> String {
        let mut out: Vec<u8> = Vec::with_capacity(self.0.len() * 2);
        let mut i = 0;
        while i < self.0.len() {
            match self.0[i] {
                HEX_RUN => {
                    unpack_hex(&self.0[i + 1..i + 17], &mut out);
                    i += 17;
                }
                DASHED_UUID => {
                    let mut digits = Vec::with_capacity(ID_HEX);
                    unpack_hex(&self.0[i + 1..i + 17], &mut digits);
                    for (n, chunk) in [0..8, 8..12, 12..16, 16..20, 20..32].into_iter().enumerate() {
                        if n > 0 {
                            out.push(b'-');
                        }
                        out.extend_from_slice(&digits[chunk]);
                    }
                    i += 17;
                }
                word if word >= FIRST_WORD => {
                    out.extend_from_slice(WORDS[usize::from(word - FIRST_WORD)].as_bytes());
                    i += 1;
                }
                literal => {
                    out.push(literal);
                    i += 1;
                }
            }
        }
        // Codes stand only where a character starts, so the literal bytes
        // between them are whole UTF-8 sequences.
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Whether this is `s`: packing is one-to-one, so packed forms compare.
    pub fn is(&self, s: &str) -> bool {
        *self == Packed::new(s)
    }
}

impl From<&str> for Packed {
    fn from(s: &str) -> Packed {
        Packed::new(s)
    }
}

impl From<String> for Packed {
    fn from(s: String) -> Packed {
        Packed::new(&s)
    }
}

impl PartialEq<&str> for Packed {
    fn eq(&self, other: &&str) -> bool {
        self.is(other)
    }
}

impl fmt::Display for Packed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.unpack())
    }
}

impl fmt::Debug for Packed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.unpack(), f)
    }
}

impl Serialize for Packed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.unpack())
    }
}

impl<'de> Deserialize<'de> for Packed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Packed, D::Error> {
        deserializer.deserialize_str(PackedVisitor)
    }
}

struct PackedVisitor;

impl serde::de::Visitor<'_> for PackedVisitor {
    type Value = Packed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Packed, E> {
        Ok(Packed::new(s))
    }
}

/// A map keyed by packed strings. Packed order is not string order, so
/// everything that shows the map (`sorted`, serialisation) sorts by the
/// unpacked key, as the `BTreeMap<String, _>` it replaces did.
#[derive(Clone, PartialEq)]
pub struct PackedMap<V>(BTreeMap<Packed, V>);

impl<V> Default for PackedMap<V> {
    fn default() -> PackedMap<V> {
        PackedMap(BTreeMap::new())
    }
}

impl<V> PackedMap<V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.get(&Packed::new(key))
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(&Packed::new(key))
    }

    pub fn insert(&mut self, key: &str, value: V) -> Option<V> {
        self.0.insert(Packed::new(key), value)
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.0.remove(&Packed::new(key))
    }

    /// Sets `key` to `value`, or removes it for `None`.
    pub fn set(&mut self, key: &str, value: Option<V>) {
        match value {
            Some(v) => self.insert(key, v),
            None => self.remove(key),
        };
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every entry, in no particular order: for scans whose answer does
    /// not depend on it.
    pub fn entries(&self) -> impl Iterator<Item = (&Packed, &V)> {
        self.0.iter()
    }

    /// Every entry by its unpacked key, in string order.
    pub fn sorted(&self) -> Vec<(String, &V)> {
        let mut all: Vec<(String, &V)> = self.0.iter().map(|(k, v)| (k.unpack(), v)).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

impl<V: fmt::Debug> fmt::Debug for PackedMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.sorted()).finish()
    }
}

impl<V: Serialize> Serialize for PackedMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.sorted())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for PackedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PackedMap<V>, D::Error> {
        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

/// Reads a map entry by entry, packing each key as it comes: a large
/// snapshot never exists in memory with plain keys.
struct MapVisitor<V>(std::marker::PhantomData<V>);

impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for MapVisitor<V> {
    type Value = PackedMap<V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map with string keys")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<PackedMap<V>, A::Error> {
        let mut map = BTreeMap::new();
        while let Some((key, value)) = access.next_entry::<Packed, V>()? {
            map.insert(key, value);
        }
        Ok(PackedMap(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn brick_names_pack_small_and_unpack_to_themselves() {
        let fstab = format!(
            "/dev/mapper/vg_{ID}-brick_{ID} /var/lib/heketi/mounts/vg_{ID}/brick_{ID} xfs rw,inode64,noatime,nouuid 1 2"
        );
        let packed = Packed::new(&fstab);
        assert_eq!(packed.unpack(), fstab);
        assert!(
            packed.0.len() < fstab.len() / 2,
            "{} of {} bytes",
            packed.0.len(),
            fstab.len()
        );
        let uuid = "01234567-89ab-cdef-0123-456789abcdef";
        assert_eq!(Packed::new(uuid).0.len(), 17);
        assert_eq!(Packed::new(uuid).unpack(), uuid);
    }

    #[test]
    fn every_word_is_looked_for() {
        for w in WORDS {
            assert!(WORD_STARTS.contains(&w.as_bytes()[0]), "{w}");
            assert_eq!(Packed::new(w).0.len(), 1, "{w} packs to one byte");
        }
    }

    #[test]
    fn any_string_unpacks_to_itself() {
        let upper = ID.to_uppercase();
        let samples = [
            "",
            "x",
            "vg_",
            "/brick",
            "/brick_/brick",
            "ünïcödé vg_ ✓ 0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
            "01234567-89ab-cdef-0123-456789abcdeg",
            "01234567-89ab-cdef-0123-456789abcdef-01234567-89ab-cdef-0123-456789abcdef",
            "'; rm -rf / #\n\t\u{0}",
            upper.as_str(),
        ];
        for s in samples {
            assert_eq!(Packed::new(s).unpack(), s, "{s:?}");
            assert!(Packed::new(s).is(s));
        }
        // Distinct strings stay distinct.
        assert_ne!(Packed::new(ID), Packed::new(&upper));
        assert_ne!(Packed::new("vg_a"), Packed::new("vg_b"));
    }

    #[test]
    fn a_map_reads_and_serialises_in_string_order() {
        let mut map = PackedMap::default();
        for key in ["vg_x/b", &format!("vg_{ID}/brick_{ID}"), "a", "vg_"] {
            map.insert(key, key.len());
        }
        let text = serde_json::to_string(&map).unwrap();
        let plain: BTreeMap<String, usize> = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&plain).unwrap(), text, "keys in string order");
        let back: PackedMap<usize> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, map);
        assert_eq!(map.get("a"), Some(&1));
        assert!(map.contains_key("vg_x/b") && !map.contains_key("vg_x"));
        assert_eq!(
            map.sorted().into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
            plain.keys().cloned().collect::<Vec<_>>()
        );
        assert_eq!(map.remove("a"), Some(1));
        assert_eq!(map.len(), 3);
    }
}
