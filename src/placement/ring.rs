//! The balanced device ring: consecutive devices alternate across zones and
//! nodes, and each brick set starts at a position derived from its id.

use std::collections::BTreeMap;

use super::DeviceSlot;

/// Device indexes in ring order. Heketi walks Go maps here (random order);
/// Brickyard walks zones and nodes in sorted order, which keeps the same
/// interleaving and makes placement reproducible.
pub fn balanced(devices: &[DeviceSlot]) -> Vec<usize> {
    let mut zones: BTreeMap<i64, BTreeMap<&str, Vec<usize>>> = BTreeMap::new();
    for (i, d) in devices.iter().enumerate() {
        zones
            .entry(d.zone)
            .or_default()
            .entry(d.node.as_str())
            .or_default()
            .push(i);
    }
    let mut zones: Vec<Vec<Vec<usize>>> = zones.into_values().map(|nodes| nodes.into_values().collect()).collect();
    let mut out = Vec::with_capacity(devices.len());
    let mut i = 0usize;
    while !zones.is_empty() {
        let z = i % zones.len();
        let k = i % zones[z].len();
        if let Some(device) = zones[z][k].pop() {
            out.push(device);
        }
        if zones[z][k].is_empty() {
            zones[z].remove(k);
        }
        if zones[z].is_empty() {
            zones.remove(z);
        }
        i += 1;
    }
    out
}

/// Where a ring starts for `id`: its last seven hex digits modulo the
/// length. Heketi read the first seven, which are random in its ids;
/// Brickyard's ids begin with the time (`ids::new_id`), so their random
/// digits are at the end.
pub fn start_for(id: &str, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let digits = id.get(id.len().saturating_sub(7)..).unwrap_or("");
    (u64::from_str_radix(digits, 16).unwrap_or(0) % len as u64) as usize
}

/// `ring` rotated to start where `id` says.
pub fn rotated(ring: &[usize], id: &str) -> Vec<usize> {
    let start = start_for(id, ring.len());
    ring[start..].iter().chain(ring[..start].iter()).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(node: &str, zone: i64, id: &str) -> DeviceSlot {
        DeviceSlot {
            id: id.into(),
            node: node.into(),
            zone,
            free: 100,
            extent_kib: 4096,
            tags: Default::default(),
        }
    }

    #[test]
    fn consecutive_devices_alternate_zones() {
        let devices = vec![
            slot("a", 1, "a1"),
            slot("a", 1, "a2"),
            slot("b", 2, "b1"),
            slot("b", 2, "b2"),
            slot("c", 3, "c1"),
            slot("c", 3, "c2"),
        ];
        let ring = balanced(&devices);
        assert_eq!(ring.len(), 6);
        let zones: Vec<i64> = ring.iter().map(|&i| devices[i].zone).collect();
        for w in zones.windows(3).step_by(3) {
            let mut w = w.to_vec();
            w.sort();
            assert_eq!(w, [1, 2, 3]);
        }
    }

    #[test]
    fn rotation_uses_the_last_seven_hex_digits() {
        assert_eq!(start_for("ffffffff00000005", 10), 5);
        assert_eq!(start_for("ffffffff1000005", 10), 1, "0x1000005 % 10");
        assert_eq!(rotated(&[0, 1, 2, 3], "ffff0000004"), [0, 1, 2, 3]);
        assert_eq!(rotated(&[0, 1, 2, 3], "ffff0000003"), [3, 0, 1, 2]);
        assert_eq!(start_for("12", 10), 8, "a short id: all of it");
    }
}
