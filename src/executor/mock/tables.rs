//! A simulated node's LVs, mounts and fstab lines, kept small. At 50,000
//! volumes the nodes hold 150,000 bricks, each four entries (its thin
//! pool, its thin LV, its mount and its fstab line): about 550 bytes a
//! brick as packed strings in maps, most of the mock's memory. A brick
//! named and laid out the way Brickyard makes one (`brick_names.rs`) is
//! kept instead as a few numbers under its 16-byte id, its volume group
//! as an index into the groups the table has seen. Every other entry (a
//! clone's snapshot LV, a hand-edited name, a line with other options)
//! stays a packed string, and a key is kept one way or the other, never
//! both. Each table reads, compares and serialises as the plain map or
//! list it replaces, whichever way its entries are kept, so the mock's
//! JSON does not change.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::brick_names::{
    device, fstab_line, lv_key, mount_point, parse_brick_marker, parse_device, parse_fstab_line, parse_lv_key,
    parse_mount_point, parse_pool_name, parse_vg_name, pool_name, Id, LvKind,
};
use super::packed::{Packed, PackedMap};
use super::state::MockLv;

/// The volume groups a table's records name, each once: a record holds
/// its index. A node has a volume group per device, so the list is short.
#[derive(Clone, Default)]
struct Groups(Vec<Id>);

impl Groups {
    fn find(&self, vg: Id) -> Option<u16> {
        let i = self.0.iter().position(|g| *g == vg)?;
        u16::try_from(i).ok()
    }

    /// `vg`'s index, added if new; `None` once the indexes run out.
    fn index(&mut self, vg: Id) -> Option<u16> {
        if let Some(i) = self.find(vg) {
            return Some(i);
        }
        let i = u16::try_from(self.0.len()).ok()?;
        self.0.push(vg);
        Some(i)
    }

    fn id(&self, index: u16) -> Id {
        self.0[usize::from(index)]
    }
}

/// A standard brick's thin pool.
#[derive(Clone, Copy)]
struct PoolLv {
    extents: u64,
    size_kib: u64,
}

impl PoolLv {
    fn lv(self) -> MockLv {
        MockLv {
            pool: None,
            extents: self.extents,
            size_kib: self.size_kib,
        }
    }
}

/// A standard brick's LVs in one volume group: its pool, its thin LV, or both.
#[derive(Clone, Copy)]
struct BrickLvs {
    vg: u16,
    pool: Option<PoolLv>,
    /// The thin LV's size; it is in the brick's own pool and holds no extents.
    thin_kib: Option<u64>,
}

impl BrickLvs {
    /// How many LVs the record holds.
    fn count(&self) -> usize {
        usize::from(self.pool.is_some()) + usize::from(self.thin_kib.is_some())
    }
}

/// Logical volumes by `vg/lv`.
#[derive(Clone, Default)]
pub struct Lvs {
    groups: Groups,
    bricks: BTreeMap<Id, BrickLvs>,
    other: PackedMap<MockLv>,
}

fn thin_lv(brick: Id, size_kib: u64) -> MockLv {
    MockLv {
        pool: Some(Packed::new(&pool_name(brick))),
        extents: 0,
        size_kib,
    }
}

impl Lvs {
    /// The record of `brick`, when it is for volume group `vg`.
    fn record(&self, vg: Id, brick: Id) -> Option<&BrickLvs> {
        let record = self.bricks.get(&brick)?;
        (self.groups.id(record.vg) == vg).then_some(record)
    }

    pub fn get(&self, key: &str) -> Option<MockLv> {
        if let Some((vg, kind, brick)) = parse_lv_key(key) {
            let kept = self.record(vg, brick).and_then(|r| match kind {
                LvKind::Pool => r.pool.map(PoolLv::lv),
                LvKind::Thin => r.thin_kib.map(|kib| thin_lv(brick, kib)),
            });
            if kept.is_some() {
                return kept;
            }
        }
        self.other.get(key).cloned()
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`, or removes it for `None`.
    pub fn set(&mut self, key: &str, value: Option<MockLv>) {
        if let Some((vg, kind, brick)) = parse_lv_key(key) {
            self.clear(vg, kind, brick);
            if value.as_ref().is_some_and(|lv| self.keep(vg, kind, brick, lv)) {
                self.other.remove(key);
                return;
            }
        }
        self.other.set(key, value);
    }

    /// Empties the record's place for the key, if the record is for `vg`.
    fn clear(&mut self, vg: Id, kind: LvKind, brick: Id) {
        let Some(group) = self.groups.find(vg) else {
            return;
        };
        let Entry::Occupied(mut entry) = self.bricks.entry(brick) else {
            return;
        };
        if entry.get().vg != group {
            return;
        }
        let record = entry.get_mut();
        match kind {
            LvKind::Pool => record.pool = None,
            LvKind::Thin => record.thin_kib = None,
        }
        if record.pool.is_none() && record.thin_kib.is_none() {
            entry.remove();
        }
    }

    /// Keeps `lv` in its brick's record when it is laid out as Brickyard
    /// makes it and the record is this volume group's (or new).
    fn keep(&mut self, vg: Id, kind: LvKind, brick: Id, lv: &MockLv) -> bool {
        let standard = match kind {
            LvKind::Pool => lv.pool.is_none(),
            LvKind::Thin => {
                lv.extents == 0
                    && lv
                        .pool
                        .as_ref()
                        .is_some_and(|p| parse_pool_name(&p.unpack()) == Some(brick))
            }
        };
        let Some(group) = standard.then(|| self.groups.index(vg)).flatten() else {
            return false;
        };
        let record = self.bricks.entry(brick).or_insert(BrickLvs {
            vg: group,
            pool: None,
            thin_kib: None,
        });
        if record.vg != group {
            return false;
        }
        match kind {
            LvKind::Pool => {
                record.pool = Some(PoolLv {
                    extents: lv.extents,
                    size_kib: lv.size_kib,
                });
            }
            LvKind::Thin => record.thin_kib = Some(lv.size_kib),
        }
        true
    }

    /// Every LV by its key, in string order.
    pub fn sorted(&self) -> Vec<(String, MockLv)> {
        let mut all: Vec<(String, MockLv)> = self.other.entries().map(|(k, v)| (k.unpack(), v.clone())).collect();
        for (brick, record) in &self.bricks {
            let vg = self.groups.id(record.vg);
            if let Some(p) = record.pool {
                all.push((lv_key(vg, LvKind::Pool, *brick), p.lv()));
            }
            if let Some(kib) = record.thin_kib {
                all.push((lv_key(vg, LvKind::Thin, *brick), thin_lv(*brick, kib)));
            }
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    pub fn len(&self) -> usize {
        let kept: usize = self.bricks.values().map(BrickLvs::count).sum();
        kept + self.other.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bricks.is_empty() && self.other.is_empty()
    }

    /// How many LVs volume group `vg` holds.
    pub fn count_in(&self, vg: &str) -> usize {
        let kept: usize = match parse_vg_name(vg).and_then(|v| self.groups.find(v)) {
            Some(group) => self
                .bricks
                .values()
                .filter(|r| r.vg == group)
                .map(BrickLvs::count)
                .sum(),
            None => 0,
        };
        kept + self.other.entries().filter(|(k, _)| in_group(k, vg)).count()
    }

    /// Whether any LV of volume group `vg` is in thin pool `pool`. A
    /// standard thin LV is in its own brick's pool only.
    pub fn pool_in_use(&self, vg: &str, pool: &str) -> bool {
        let kept = parse_vg_name(vg)
            .zip(parse_pool_name(pool))
            .and_then(|(v, b)| self.record(v, b))
            .is_some_and(|r| r.thin_kib.is_some());
        kept || self
            .other
            .entries()
            .any(|(k, lv)| lv.pool.as_ref().is_some_and(|p| p.is(pool)) && in_group(k, vg))
    }
}

/// Whether LV key `key` is in volume group `vg`.
fn in_group(key: &Packed, vg: &str) -> bool {
    key.unpack().strip_prefix(vg).is_some_and(|rest| rest.starts_with('/'))
}

/// Mounted file systems: mount point → device node.
#[derive(Clone, Default)]
pub struct Mounts {
    groups: Groups,
    /// A standard brick's mount, by its id: its volume group.
    bricks: BTreeMap<Id, u16>,
    other: PackedMap<Packed>,
}

impl Mounts {
    pub fn get(&self, point: &str) -> Option<String> {
        if let Some((vg, brick)) = parse_mount_point(point) {
            if self.bricks.get(&brick).is_some_and(|g| self.groups.id(*g) == vg) {
                return Some(device(vg, brick));
            }
        }
        self.other.get(point).map(Packed::unpack)
    }

    pub fn contains_key(&self, point: &str) -> bool {
        self.get(point).is_some()
    }

    /// Mounts `device` at `point`, or unmounts it for `None`.
    pub fn set(&mut self, point: &str, device: Option<&str>) {
        if let Some((vg, brick)) = parse_mount_point(point) {
            let group = self.groups.find(vg);
            if group.is_some() && self.bricks.get(&brick) == group.as_ref() {
                self.bricks.remove(&brick);
            }
            if device.and_then(parse_device) == Some((vg, brick)) && self.keep(vg, brick) {
                self.other.remove(point);
                return;
            }
        }
        self.other.set(point, device.map(Packed::new));
    }

    fn keep(&mut self, vg: Id, brick: Id) -> bool {
        let Some(group) = self.groups.index(vg) else {
            return false;
        };
        match self.bricks.entry(brick) {
            Entry::Vacant(slot) => {
                slot.insert(group);
                true
            }
            Entry::Occupied(_) => false,
        }
    }

    /// Every mount point and its device, in mount point order.
    pub fn sorted(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = self.other.entries().map(|(k, v)| (k.unpack(), v.unpack())).collect();
        for (brick, group) in &self.bricks {
            let vg = self.groups.id(*group);
            all.push((mount_point(vg, *brick), device(vg, *brick)));
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    pub fn len(&self) -> usize {
        self.bricks.len() + self.other.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A standard brick's fstab line: its volume group, and its place in the file.
#[derive(Clone, Copy)]
struct BrickLine {
    vg: u16,
    seq: u64,
}

/// The lines of a node's fstab, in order. Each line has a place number
/// that only grows, so lines kept either way list in the order they came.
#[derive(Clone, Default)]
pub struct Fstab {
    groups: Groups,
    bricks: BTreeMap<Id, BrickLine>,
    other: BTreeMap<u64, Packed>,
    next: u64,
}

impl Fstab {
    /// Appends `line`.
    pub fn push(&mut self, line: &str) {
        let seq = self.next;
        self.next += 1;
        if let Some((vg, brick)) = parse_fstab_line(line) {
            if let Some(group) = self.groups.index(vg) {
                if let Entry::Vacant(slot) = self.bricks.entry(brick) {
                    slot.insert(BrickLine { vg: group, seq });
                    return;
                }
            }
        }
        self.other.insert(seq, Packed::new(line));
    }

    /// Removes every line equal to `line`.
    pub fn remove(&mut self, line: &str) {
        if let Some((vg, brick)) = parse_fstab_line(line) {
            if self.kept(vg, brick) {
                self.bricks.remove(&brick);
            }
        }
        let packed = Packed::new(line);
        self.other.retain(|_, l| *l != packed);
    }

    fn kept(&self, vg: Id, brick: Id) -> bool {
        self.bricks.get(&brick).is_some_and(|l| self.groups.id(l.vg) == vg)
    }

    pub fn contains(&self, line: &str) -> bool {
        let kept = parse_fstab_line(line).is_some_and(|(vg, brick)| self.kept(vg, brick));
        kept || {
            let packed = Packed::new(line);
            self.other.values().any(|l| *l == packed)
        }
    }

    /// Whether a line mounts something at `point` (its second field).
    pub fn mounts_at(&self, point: &str) -> bool {
        let kept = parse_mount_point(point).is_some_and(|(vg, brick)| self.kept(vg, brick));
        kept || self
            .other
            .values()
            .any(|l| l.unpack().split_whitespace().nth(1) == Some(point))
    }

    /// The lines holding `text`, in order.
    pub fn containing(&self, text: &str) -> Vec<String> {
        // A standard line holds `brick_<id>` for its own brick only.
        let mut found: Vec<(u64, String)> = match parse_brick_marker(text) {
            Some(brick) => self
                .bricks
                .get(&brick)
                .map(|l| (l.seq, fstab_line(self.groups.id(l.vg), brick)))
                .into_iter()
                .collect(),
            None => self.numbered_bricks().filter(|(_, l)| l.contains(text)).collect(),
        };
        found.extend(
            self.other
                .iter()
                .map(|(seq, l)| (*seq, l.unpack()))
                .filter(|(_, l)| l.contains(text)),
        );
        found.sort_by_key(|(seq, _)| *seq);
        found.into_iter().map(|(_, l)| l).collect()
    }

    fn numbered_bricks(&self) -> impl Iterator<Item = (u64, String)> + '_ {
        self.bricks
            .iter()
            .map(|(brick, l)| (l.seq, fstab_line(self.groups.id(l.vg), *brick)))
    }

    /// Every line, in order.
    pub fn lines(&self) -> Vec<String> {
        let mut all: Vec<(u64, String)> = self.numbered_bricks().collect();
        all.extend(self.other.iter().map(|(seq, l)| (*seq, l.unpack())));
        all.sort_by_key(|(seq, _)| *seq);
        all.into_iter().map(|(_, l)| l).collect()
    }

    pub fn len(&self) -> usize {
        self.bricks.len() + self.other.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for Lvs {
    fn eq(&self, other: &Lvs) -> bool {
        self.sorted() == other.sorted()
    }
}

impl PartialEq for Mounts {
    fn eq(&self, other: &Mounts) -> bool {
        self.sorted() == other.sorted()
    }
}

impl PartialEq for Fstab {
    fn eq(&self, other: &Fstab) -> bool {
        self.lines() == other.lines()
    }
}

impl<const N: usize> PartialEq<[&str; N]> for Fstab {
    fn eq(&self, other: &[&str; N]) -> bool {
        self.lines() == other
    }
}

impl fmt::Debug for Lvs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.sorted()).finish()
    }
}

impl fmt::Debug for Mounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.sorted()).finish()
    }
}

impl fmt::Debug for Fstab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.lines()).finish()
    }
}

impl Serialize for Lvs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.sorted())
    }
}

impl Serialize for Mounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.sorted())
    }
}

impl Serialize for Fstab {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.lines())
    }
}

// Loading goes entry by entry through the same `set` and `push` a change
// does, so a hand-edited file reads as the changes that would make it.

impl<'de> Deserialize<'de> for Lvs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Lvs, D::Error> {
        deserializer.deserialize_map(Entries::new(|lvs: &mut Lvs, key: String, lv: MockLv| {
            lvs.set(&key, Some(lv));
        }))
    }
}

impl<'de> Deserialize<'de> for Mounts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Mounts, D::Error> {
        deserializer.deserialize_map(Entries::new(|m: &mut Mounts, point: String, device: String| {
            m.set(&point, Some(&device));
        }))
    }
}

impl<'de> Deserialize<'de> for Fstab {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fstab, D::Error> {
        deserializer.deserialize_seq(Lines)
    }
}

/// Reads a map into a table entry by entry with `F`.
struct Entries<T, V, F>(F, std::marker::PhantomData<fn() -> (T, V)>);

impl<T, V, F: Fn(&mut T, String, V)> Entries<T, V, F> {
    fn new(add: F) -> Entries<T, V, F> {
        Entries(add, std::marker::PhantomData)
    }
}

impl<'de, T, V, F> serde::de::Visitor<'de> for Entries<T, V, F>
where
    T: Default,
    V: Deserialize<'de>,
    F: Fn(&mut T, String, V),
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map with string keys")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<T, A::Error> {
        let mut table = T::default();
        while let Some((key, value)) = access.next_entry::<String, V>()? {
            (self.0)(&mut table, key, value);
        }
        Ok(table)
    }
}

struct Lines;

impl<'de> serde::de::Visitor<'de> for Lines {
    type Value = Fstab;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of lines")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut access: A) -> Result<Fstab, A::Error> {
        let mut fstab = Fstab::default();
        while let Some(line) = access.next_element::<String>()? {
            fstab.push(&line);
        }
        Ok(fstab)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const V: [&str; 2] = ["0123456789abcdef0123456789abcdef", "11111111111111111111111111111111"];
    const B: [&str; 2] = ["fedcba9876543210fedcba9876543210", "22222222222222222222222222222222"];

    fn lv_keys() -> Vec<String> {
        let mut keys = Vec::new();
        for v in V {
            for b in B {
                keys.push(format!("vg_{v}/tp_{b}"));
                keys.push(format!("vg_{v}/brick_{b}"));
            }
        }
        keys.push(format!("vg_{}/snap_{}", V[0], B[0]));
        keys.push("vg_d1/brick_b1".into());
        keys
    }

    fn lv_values() -> Vec<Option<MockLv>> {
        let lv = |pool: Option<String>, extents| MockLv {
            pool: pool.map(|p| Packed::new(&p)),
            extents,
            size_kib: 1024 + extents,
        };
        vec![
            None,
            Some(lv(None, 3)),
            Some(lv(Some(format!("tp_{}", B[0])), 0)),
            Some(lv(Some(format!("tp_{}", B[1])), 0)),
            Some(lv(Some(format!("tp_{}", B[0])), 2)),
        ]
    }

    fn mount_points() -> Vec<String> {
        let mut points: Vec<String> = V
            .iter()
            .flat_map(|v| {
                B.iter()
                    .map(move |b| format!("/var/lib/heketi/mounts/vg_{v}/brick_{b}"))
            })
            .collect();
        points.push("/run/gluster/snaps/x/brick1".into());
        points
    }

    fn devices() -> Vec<Option<String>> {
        let mut devices: Vec<Option<String>> = V
            .iter()
            .flat_map(|v| B.iter().map(move |b| Some(format!("/dev/mapper/vg_{v}-brick_{b}"))))
            .collect();
        devices.push(None);
        devices.push(Some("/dev/mapper/vg_x-y".into()));
        devices
    }

    fn fstab_lines() -> Vec<String> {
        let mut lines: Vec<String> = V
            .iter()
            .flat_map(|v| {
                B.iter().map(move |b| {
                    format!("/dev/mapper/vg_{v}-brick_{b} /var/lib/heketi/mounts/vg_{v}/brick_{b} xfs rw,inode64,noatime,nouuid 1 2")
                })
            })
            .collect();
        lines.push(lines[0].replace("nouuid", "nouuid,discard"));
        lines.push("/dev/sdz /mnt/other xfs defaults 0 0".into());
        lines
    }

    proptest! {
        #[test]
        fn lvs_read_as_the_plain_map(ops in proptest::collection::vec((0..10usize, 0..5usize), 0..40)) {
            let (keys, values) = (lv_keys(), lv_values());
            let mut table = Lvs::default();
            let mut plain: BTreeMap<String, MockLv> = BTreeMap::new();
            for (k, v) in ops {
                let (key, value) = (&keys[k], values[v].clone());
                table.set(key, value.clone());
                match value {
                    Some(lv) => plain.insert(key.clone(), lv),
                    None => plain.remove(key),
                };
                for key in &keys {
                    prop_assert_eq!(table.get(key), plain.get(key).cloned(), "{}", key);
                }
                let sorted: Vec<(String, MockLv)> = plain.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                prop_assert_eq!(table.sorted(), sorted);
                prop_assert_eq!(table.len(), plain.len());
                for vg in V.iter().map(|v| format!("vg_{v}")).chain(["vg_d1".to_string(), "vg".to_string()]) {
                    let prefix = format!("{vg}/");
                    let count = plain.keys().filter(|k| k.starts_with(&prefix)).count();
                    prop_assert_eq!(table.count_in(&vg), count);
                    for pool in B.iter().map(|b| format!("tp_{b}")).chain(["tp_b1".to_string()]) {
                        let used = plain.iter().any(|(k, lv)| {
                            k.starts_with(&prefix) && lv.pool.as_ref().is_some_and(|p| p.is(&pool))
                        });
                        prop_assert_eq!(table.pool_in_use(&vg, &pool), used);
                    }
                }
            }
            let text = serde_json::to_string(&table).unwrap();
            prop_assert_eq!(&text, &serde_json::to_string(&plain).unwrap());
            prop_assert_eq!(serde_json::from_str::<Lvs>(&text).unwrap(), table);
        }

        #[test]
        fn mounts_read_as_the_plain_map(ops in proptest::collection::vec((0..5usize, 0..6usize), 0..40)) {
            let (points, devices) = (mount_points(), devices());
            let mut table = Mounts::default();
            let mut plain: BTreeMap<String, String> = BTreeMap::new();
            for (p, d) in ops {
                let (point, device) = (&points[p], devices[d].clone());
                table.set(point, device.as_deref());
                match device {
                    Some(d) => plain.insert(point.clone(), d),
                    None => plain.remove(point),
                };
                for point in &points {
                    prop_assert_eq!(table.get(point), plain.get(point).cloned());
                }
                let sorted: Vec<(String, String)> = plain.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                prop_assert_eq!(table.sorted(), sorted);
                prop_assert_eq!(table.len(), plain.len());
            }
            let text = serde_json::to_string(&table).unwrap();
            prop_assert_eq!(&text, &serde_json::to_string(&plain).unwrap());
            prop_assert_eq!(serde_json::from_str::<Mounts>(&text).unwrap(), table);
        }

        #[test]
        fn fstab_reads_as_the_plain_list(ops in proptest::collection::vec((0..6usize, any::<bool>()), 0..40)) {
            let lines = fstab_lines();
            let mut table = Fstab::default();
            let mut plain: Vec<String> = Vec::new();
            for (l, add) in ops {
                let line = &lines[l];
                if add {
                    table.push(line);
                    plain.push(line.clone());
                } else {
                    table.remove(line);
                    plain.retain(|p| p != line);
                }
                prop_assert_eq!(table.lines(), plain.clone());
                prop_assert_eq!(table.len(), plain.len());
                for line in &lines {
                    prop_assert_eq!(table.contains(line), plain.contains(line));
                    let point = line.split_whitespace().nth(1).unwrap();
                    let at = plain.iter().any(|p| p.split_whitespace().nth(1) == Some(point));
                    prop_assert_eq!(table.mounts_at(point), at);
                }
                for text in B.iter().map(|b| format!("brick_{b}")).chain(["brick_".to_string(), "nouuid".into(), "sdz".into()]) {
                    let holding: Vec<String> = plain.iter().filter(|p| p.contains(&text)).cloned().collect();
                    prop_assert_eq!(table.containing(&text), holding);
                }
            }
            let text = serde_json::to_string(&table).unwrap();
            prop_assert_eq!(&text, &serde_json::to_string(&plain).unwrap());
            prop_assert_eq!(serde_json::from_str::<Fstab>(&text).unwrap(), table);
        }
    }

    #[test]
    fn a_standard_brick_is_kept_as_a_record() {
        let (v, b) = (V[0], B[0]);
        let mut lvs = Lvs::default();
        lvs.set(
            &format!("vg_{v}/tp_{b}"),
            Some(MockLv {
                pool: None,
                extents: 5,
                size_kib: 20480,
            }),
        );
        lvs.set(
            &format!("vg_{v}/brick_{b}"),
            Some(thin_lv(Id::parse(b).unwrap(), 20480)),
        );
        assert_eq!((lvs.bricks.len(), lvs.other.len(), lvs.len()), (1, 0, 2));
        let mut mounts = Mounts::default();
        mounts.set(
            &format!("/var/lib/heketi/mounts/vg_{v}/brick_{b}"),
            Some(&format!("/dev/mapper/vg_{v}-brick_{b}")),
        );
        assert_eq!((mounts.bricks.len(), mounts.other.len()), (1, 0));
        let mut fstab = Fstab::default();
        fstab.push(&fstab_lines()[0]);
        fstab.push(&fstab_lines()[0]);
        assert_eq!(
            (fstab.bricks.len(), fstab.other.len()),
            (1, 1),
            "a second copy is kept as text"
        );
    }
}
