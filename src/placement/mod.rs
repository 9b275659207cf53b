//! The placement engine: which cluster, how many brick sets of what size, and
//! which devices. Pure functions over a snapshot of the topology; no I/O.
//! Ids come from the caller, so results are reproducible in tests.

pub mod filters;
pub mod ring;
pub mod sizing;

use std::collections::BTreeSet;

use filters::{arbiter_role, ArbiterRole, TagRule};
use sizing::{
    arbiter_brick, extended, halving, thin_pool, ArbiterTooSmall, BrickLimits, PoolSize, SetSizing, SizingEnd,
    KIB_PER_GIB,
};

use crate::store::records::Tags;

/// One online device on an online node, as placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSlot {
    pub id: String,
    pub node: String,
    pub zone: i64,
    /// Free KiB.
    pub free: u64,
    pub extent_kib: u64,
    /// Node tags overlaid by device tags.
    pub tags: Tags,
}

/// A cluster as placement sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterSlot {
    pub id: String,
    pub block: bool,
    pub file: bool,
    pub node_count: usize,
    /// Online devices of online nodes, in node-id then device-id order.
    pub devices: Vec<DeviceSlot>,
    /// Online nodes left out because the health monitor found their
    /// glusterd down (their devices are not in `devices`); for the
    /// explanation of a refusal.
    pub nodes_down: usize,
}

/// How bricks form sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Distribute,
    Replicate(u64),
    Disperse { data: u64, redundancy: u64 },
}

impl Layout {
    pub fn bricks_per_set(self) -> u64 {
        match self {
            Layout::Distribute => 1,
            Layout::Replicate(n) => n,
            Layout::Disperse { data, redundancy } => data + redundancy,
        }
    }
    /// Bricks whose sizes add up to the set's capacity.
    pub fn data_bricks(self) -> u64 {
        match self {
            Layout::Disperse { data, .. } => data,
            _ => 1,
        }
    }
}

/// Everything placement needs to know about the volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub size_gib: u64,
    pub layout: Layout,
    pub arbiter: bool,
    pub snapshot_factor: f32,
    pub zone_strict: bool,
    pub tag_rule: Option<TagRule>,
    pub average_file_kib: u64,
    /// Bricks the volume already has (expansion).
    pub existing_bricks: u64,
    pub limits: BrickLimits,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedBrick {
    pub id: String,
    pub device: String,
    pub node: String,
    pub size_kib: u64,
    pub pool: PoolSize,
    pub arbiter: bool,
}

/// A placement: brick sets in gluster order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub sets: Vec<Vec<PlannedBrick>>,
    pub sizing: SetSizing,
}

impl Plan {
    pub fn bricks(&self) -> impl Iterator<Item = &PlannedBrick> {
        self.sets.iter().flatten()
    }
}

/// Why a cluster could not take the volume.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    NoNodes,
    NoOnlineDevices,
    /// The placement ran out of room; the text says why.
    NoSpace(String),
    /// Arbiter bricks cannot be sized for the volume's average file size.
    Arbiter(ArbiterTooSmall),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoNodes => f.write_str("No nodes in cluster"),
            Refusal::NoOnlineDevices => f.write_str("No online storage devices in cluster"),
            Refusal::NoSpace(why) => write!(f, "No space: {why}"),
            Refusal::Arbiter(e) => e.fmt(f),
        }
    }
}

/// Places `request` on `devices` (free space is taken from the copy in
/// `free`, so later sets see earlier ones).
struct Placer<'a> {
    devices: &'a [DeviceSlot],
    free: Vec<u64>,
    request: &'a Request,
    ring: Vec<usize>,
}

impl<'a> Placer<'a> {
    fn new(devices: &'a [DeviceSlot], request: &'a Request) -> Placer<'a> {
        Placer {
            devices,
            free: devices.iter().map(|d| d.free).collect(),
            request,
            ring: ring::balanced(devices),
        }
    }

    fn acceptable(&self, index: usize, set: &[(usize, bool)], size_kib: u64) -> Option<PoolSize> {
        let d = &self.devices[index];
        if set.iter().any(|(i, _)| self.devices[*i].node == d.node) {
            return None;
        }
        if self.request.zone_strict && set.iter().any(|(i, _)| self.devices[*i].zone == d.zone) {
            return None;
        }
        if let Some(rule) = &self.request.tag_rule {
            if !rule.matches(&d.tags) {
                return None;
            }
        }
        let pool = thin_pool(size_kib, self.request.snapshot_factor, d.extent_kib);
        // Heketi requires strictly more free space than the pool takes.
        (self.free[index] > pool.total()).then_some(pool)
    }

    fn take(&mut self, index: usize, pool: PoolSize) {
        self.free[index] -= pool.total();
    }

    fn brick(&self, id: String, index: usize, size_kib: u64, pool: PoolSize, arbiter: bool) -> PlannedBrick {
        let d = &self.devices[index];
        PlannedBrick {
            id,
            device: d.id.clone(),
            node: d.node.clone(),
            size_kib,
            pool,
            arbiter,
        }
    }

    /// One standard set: a forward-only stream from the rotated ring.
    fn standard_set(&mut self, size_kib: u64, new_id: &mut dyn FnMut() -> String) -> Option<Vec<PlannedBrick>> {
        let first_id = new_id();
        let stream = ring::rotated(&self.ring, &first_id);
        let mut stream = stream.into_iter();
        let mut chosen: Vec<(usize, bool)> = Vec::new();
        let mut bricks = Vec::new();
        for position in 0..self.request.layout.bricks_per_set() {
            let (index, pool) = stream
                .by_ref()
                .find_map(|i| self.acceptable(i, &chosen, size_kib).map(|p| (i, p)))?;
            self.take(index, pool);
            chosen.push((index, false));
            let id = if position == 0 { first_id.clone() } else { new_id() };
            bricks.push(self.brick(id, index, size_kib, pool, false));
        }
        Some(bricks)
    }

    /// One arbiter set: position 2 (the arbiter) first, then 1, then 0.
    fn arbiter_set(
        &mut self,
        size_kib: u64,
        arbiter_kib: u64,
        new_id: &mut dyn FnMut() -> String,
    ) -> Option<Vec<PlannedBrick>> {
        let seed = new_id();
        let by_role = |role: ArbiterRole| -> Vec<usize> {
            let subset: Vec<usize> = self
                .ring
                .iter()
                .copied()
                .filter(|&i| arbiter_role(&self.devices[i].tags) == role)
                .collect();
            ring::rotated(&subset, &seed)
        };
        let both = by_role(ArbiterRole::Both);
        let arbiter_stream: Vec<usize> = by_role(ArbiterRole::ArbiterOnly)
            .into_iter()
            .chain(both.iter().copied())
            .collect();
        let data_stream: Vec<usize> = by_role(ArbiterRole::DataOnly).into_iter().chain(both).collect();
        let mut arbiter_stream = arbiter_stream.into_iter();
        let mut data_stream = data_stream.into_iter();
        let mut chosen: Vec<(usize, bool)> = Vec::new();
        let mut placed: Vec<(usize, PlannedBrick)> = Vec::new();
        for position in [2usize, 1, 0] {
            let (stream, size, is_arbiter) = if position == 2 {
                (&mut arbiter_stream, arbiter_kib, true)
            } else {
                (&mut data_stream, size_kib, false)
            };
            let (index, pool) = stream.find_map(|i| self.acceptable(i, &chosen, size).map(|p| (i, p)))?;
            self.take(index, pool);
            chosen.push((index, is_arbiter));
            placed.push((position, self.brick(new_id(), index, size, pool, is_arbiter)));
        }
        placed.sort_by_key(|(p, _)| *p);
        Some(placed.into_iter().map(|(_, b)| b).collect())
    }

    fn place(
        &mut self,
        sizing: SetSizing,
        new_id: &mut dyn FnMut() -> String,
    ) -> Result<Option<Vec<Vec<PlannedBrick>>>, ArbiterTooSmall> {
        let arbiter_kib = if self.request.arbiter {
            Some(arbiter_brick(sizing.brick_kib, self.request.average_file_kib)?)
        } else {
            None
        };
        let mut sets = Vec::new();
        for _ in 0..sizing.sets {
            let set = match arbiter_kib {
                Some(a) => self.arbiter_set(sizing.brick_kib, a, new_id),
                None => self.standard_set(sizing.brick_kib, new_id),
            };
            match set {
                Some(s) => sets.push(s),
                None => return Ok(None),
            }
        }
        Ok(Some(sets))
    }
}

fn gib(kib: u64) -> String {
    let g = kib as f64 / KIB_PER_GIB as f64;
    if g.fract() == 0.0 {
        format!("{g:.0} GiB")
    } else {
        format!("{g:.2} GiB")
    }
}

/// Says why nothing fitted, in the terms an operator can act on.
fn explain_no_space(devices: &[DeviceSlot], request: &Request, end: SizingEnd) -> String {
    let per_set = request.layout.bricks_per_set();
    let eligible: Vec<&DeviceSlot> = devices
        .iter()
        .filter(|d| request.tag_rule.as_ref().is_none_or(|r| r.matches(&d.tags)))
        .collect();
    if let Some(rule) = &request.tag_rule {
        if eligible.is_empty() {
            return format!("no online device matches the tag rule {rule}");
        }
    }
    let nodes: BTreeSet<&str> = eligible.iter().map(|d| d.node.as_str()).collect();
    if (nodes.len() as u64) < per_set {
        return format!(
            "a brick set needs {per_set} bricks on different nodes, but only {} online node(s) have usable devices",
            nodes.len()
        );
    }
    let zones: BTreeSet<i64> = eligible.iter().map(|d| d.zone).collect();
    if request.zone_strict && (zones.len() as u64) < per_set {
        return format!(
            "strict zone checking needs {per_set} zones per brick set, but only {} zone(s) have online devices",
            zones.len()
        );
    }
    let free: u64 = eligible.iter().map(|d| d.free).sum();
    let largest = eligible.iter().map(|d| d.free).max().unwrap_or(0);
    let raw = request.size_gib * KIB_PER_GIB / request.layout.data_bricks().max(1) * per_set;
    let limit = match end {
        SizingEnd::MaximumBricks => format!(
            "splitting further would exceed {} bricks per volume",
            request.limits.max_bricks_per_volume
        ),
        SizingEnd::MinimumBrickSize => format!(
            "splitting further would go below the minimum brick size of {}",
            gib(request.limits.min_brick_kib)
        ),
    };
    format!(
        "the volume needs about {} of raw space; usable devices have {} free in total, at most {} on one device; {limit}",
        gib(raw),
        gib(free),
        gib(largest)
    )
}

/// Where Heketi's halving sequence for `request` ends: at the minimum brick
/// size, or at the bricks-per-volume limit. Heketi answers an expansion that
/// found no room with that end (`Maximum number of bricks reached.` for the
/// limit), not with "No space".
pub fn sizing_end(request: &Request) -> SizingEnd {
    let layout = request.layout;
    halving(
        request.size_gib * KIB_PER_GIB,
        layout.data_bricks(),
        layout.bricks_per_set(),
        request.existing_bricks,
        request.limits,
    )
    .1
}

/// Places a volume in one cluster, trying Heketi's sizings first and
/// Brickyard's extra set counts only when none of those fits.
pub fn place_in_cluster(
    cluster: &ClusterSlot,
    request: &Request,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Plan, Refusal> {
    if cluster.node_count == 0 {
        return Err(Refusal::NoNodes);
    }
    if cluster.devices.is_empty() {
        return Err(if cluster.nodes_down > 0 {
            Refusal::NoSpace(nodes_down_note(cluster.nodes_down))
        } else {
            Refusal::NoOnlineDevices
        });
    }
    let size_kib = request.size_gib * KIB_PER_GIB;
    let (layout, data) = (request.layout.bricks_per_set(), request.layout.data_bricks());
    let (first, end) = halving(size_kib, data, layout, request.existing_bricks, request.limits);
    let more = extended(size_kib, data, layout, request.existing_bricks, request.limits);
    // Without strict checking, zones are still preferred: each sizing is
    // tried with distinct zones first, then without.
    let zone_first = Request {
        zone_strict: true,
        ..request.clone()
    };
    let attempts: &[&Request] = if request.zone_strict {
        &[request]
    } else {
        &[&zone_first, request]
    };
    for sizing in first.into_iter().chain(more) {
        for attempt in attempts {
            let mut placer = Placer::new(&cluster.devices, attempt);
            match placer.place(sizing, new_id) {
                Ok(Some(sets)) => return Ok(Plan { sets, sizing }),
                Ok(None) => continue,
                Err(e) => return Err(Refusal::Arbiter(e)),
            }
        }
    }
    let why = explain_no_space(&cluster.devices, request, end);
    Err(Refusal::NoSpace(if cluster.nodes_down > 0 {
        format!("{why}; {}", nodes_down_note(cluster.nodes_down))
    } else {
        why
    }))
}

fn nodes_down_note(nodes_down: usize) -> String {
    format!("{nodes_down} online node(s) left out while their glusterd does not answer")
}

/// The brick to replace, as replacement placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Replacement {
    /// The old brick's device: never chosen again.
    pub old_device: String,
    /// `(node, zone)` of every other member of the brick set.
    pub others: Vec<(String, i64)>,
    /// The old brick's size, KiB (already the arbiter size for an arbiter).
    pub size_kib: u64,
    /// The old brick is an arbiter brick.
    pub arbiter: bool,
}

/// Heketi's text when no device can take a replacement brick.
pub const NO_REPLACEMENT: &str = "No Replacement was found for resource requested to be removed";

/// Places one replacement brick: on a device other than the old one, on a
/// node (and, under strict zone checking, a zone) none of the set's other
/// bricks use, matching the volume's tag rule; other zones are preferred
/// even without strict checking. The old brick's own node may be chosen.
pub fn place_replacement(
    cluster: &ClusterSlot,
    request: &Request,
    old: &Replacement,
    new_id: String,
) -> Result<PlannedBrick, Refusal> {
    let candidates: Vec<usize> = {
        let ring = ring::balanced(&cluster.devices);
        let stream = |role_ok: &dyn Fn(ArbiterRole) -> bool| -> Vec<usize> {
            let subset: Vec<usize> = ring
                .iter()
                .copied()
                .filter(|&i| role_ok(arbiter_role(&cluster.devices[i].tags)))
                .collect();
            ring::rotated(&subset, &new_id)
        };
        if !request.arbiter {
            ring::rotated(&ring, &new_id)
        } else if old.arbiter {
            let mut s = stream(&|r| r == ArbiterRole::ArbiterOnly);
            s.extend(stream(&|r| r == ArbiterRole::Both));
            s
        } else {
            let mut s = stream(&|r| r == ArbiterRole::DataOnly);
            s.extend(stream(&|r| r == ArbiterRole::Both));
            s
        }
    };
    let fits = |i: usize, distinct_zone: bool| -> Option<PoolSize> {
        let d = &cluster.devices[i];
        if d.id == old.old_device || old.others.iter().any(|(node, _)| *node == d.node) {
            return None;
        }
        if distinct_zone && old.others.iter().any(|(_, zone)| *zone == d.zone) {
            return None;
        }
        if request.tag_rule.as_ref().is_some_and(|rule| !rule.matches(&d.tags)) {
            return None;
        }
        let pool = thin_pool(old.size_kib, request.snapshot_factor, d.extent_kib);
        (d.free > pool.total()).then_some(pool)
    };
    let passes: &[bool] = if request.zone_strict { &[true] } else { &[true, false] };
    for &distinct_zone in passes {
        if let Some((i, pool)) = candidates.iter().find_map(|&i| fits(i, distinct_zone).map(|p| (i, p))) {
            let d = &cluster.devices[i];
            return Ok(PlannedBrick {
                id: new_id,
                device: d.id.clone(),
                node: d.node.clone(),
                size_kib: old.size_kib,
                pool,
                arbiter: old.arbiter,
            });
        }
    }
    let why = explain_no_replacement(cluster, request, old);
    Err(Refusal::NoSpace(if cluster.nodes_down > 0 {
        format!("{why}; {}", nodes_down_note(cluster.nodes_down))
    } else {
        why
    }))
}

fn explain_no_replacement(cluster: &ClusterSlot, request: &Request, old: &Replacement) -> String {
    let elsewhere: Vec<&DeviceSlot> = cluster
        .devices
        .iter()
        .filter(|d| d.id != old.old_device && !old.others.iter().any(|(node, _)| *node == d.node))
        .collect();
    if elsewhere.is_empty() {
        return "no other online device is on a node outside the brick's set".into();
    }
    let zoned: Vec<&DeviceSlot> = if request.zone_strict {
        elsewhere
            .into_iter()
            .filter(|d| !old.others.iter().any(|(_, zone)| *zone == d.zone))
            .collect()
    } else {
        elsewhere
    };
    if zoned.is_empty() {
        return "strict zone checking: every other online device is in a zone the brick's set already uses".into();
    }
    let tagged: Vec<&DeviceSlot> = zoned
        .into_iter()
        .filter(|d| request.tag_rule.as_ref().is_none_or(|r| r.matches(&d.tags)))
        .collect();
    if let (true, Some(rule)) = (tagged.is_empty(), &request.tag_rule) {
        return format!("no eligible device matches the tag rule {rule}");
    }
    let largest = tagged.iter().map(|d| d.free).max().unwrap_or(0);
    format!(
        "the brick needs a {} pool, and the largest eligible device has {} free",
        gib(thin_pool(old.size_kib, request.snapshot_factor, 4096).total()),
        gib(largest)
    )
}

/// Free space each device would have after `plan`.
pub fn apply(devices: &mut [DeviceSlot], plan: &Plan) {
    for b in plan.bricks() {
        if let Some(d) = devices.iter_mut().find(|d| d.id == b.device) {
            d.free -= b.pool.total();
        }
    }
}

#[cfg(test)]
mod tests;
