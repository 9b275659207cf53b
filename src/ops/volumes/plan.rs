//! Planning a volume: what Heketi's options and the server's limits ask
//! of placement, which cluster can take it, and the brick records a
//! placement yields.

use std::collections::BTreeMap;

use crate::config::VolumeLimits;
use crate::executor::{brick_path, BrickSpec, VolumeLayout};
use crate::ids::new_id;
use crate::placement::filters::{merged, TagRule};
use crate::placement::sizing::{BrickLimits, KIB_PER_GIB};
use crate::placement::{self, ClusterSlot, DeviceSlot, Layout, Plan, PlannedBrick, Refusal};
use crate::store::records::{
    BrickRecord, BrickRole, ClusterRecord, DeviceRecord, DurabilityKind, DurabilityRecord, EntityState, NodeRecord,
    VolumeRecord,
};
use crate::store::TreeName;

use super::volume_name_key;
use crate::ops::{Engine, OpError};

pub(crate) fn bad(msg: impl Into<String>) -> OpError {
    OpError::BadRequest(msg.into())
}

/// Go's `strconv.ParseBool` truth.
pub(crate) fn go_true(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// Options as Heketi reads them: split at the first space, later wins.
pub(crate) fn option_map(options: &[String]) -> BTreeMap<String, String> {
    options
        .iter()
        .filter_map(|o| {
            let o = o.trim();
            let (k, v) = o.split_once(' ').unwrap_or((o, ""));
            (!k.is_empty()).then(|| (k.to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The layout a stored durability means (Heketi's defaults applied).
pub(crate) fn layout_of(d: &DurabilityRecord) -> Layout {
    match d.kind {
        DurabilityKind::Replicate => Layout::Replicate(if d.replica == 0 { 2 } else { d.replica as u64 }),
        DurabilityKind::Disperse => Layout::Disperse {
            data: d.data as u64,
            redundancy: d.redundancy as u64,
        },
        DurabilityKind::None => Layout::Distribute,
    }
}

pub(crate) fn gluster_layout(layout: Layout, arbiter: bool) -> VolumeLayout {
    match layout {
        Layout::Distribute => VolumeLayout::Distribute,
        Layout::Replicate(replica) => VolumeLayout::Replicate { replica, arbiter },
        Layout::Disperse { data, redundancy } => VolumeLayout::Disperse { data, redundancy },
    }
}

/// Placement settings a volume's options and the server settings give.
pub(crate) fn placement_request(
    volume: &VolumeRecord,
    size_gib: u64,
    existing_bricks: u64,
    limits: &VolumeLimits,
) -> Result<placement::Request, OpError> {
    let options = option_map(&volume.options);
    let layout = layout_of(&volume.durability);
    let arbiter = options.get("user.heketi.arbiter").is_some_and(|v| go_true(v));
    if arbiter && layout != Layout::Replicate(3) {
        return Err(bad(
            "Arbiter volumes (user.heketi.arbiter) need durability replicate with replica 3",
        ));
    }
    let zone_strict = match options.get("user.heketi.zone-checking") {
        Some(v) => v == "strict",
        None => limits.zone_checking == "strict",
    };
    let tag_rule = match options.get("user.heketi.device-tag-match") {
        Some(rule) => Some(TagRule::parse(rule).map_err(|e| OpError::Internal(e.to_string()))?),
        None => None,
    };
    let average_file_kib = options
        .get("user.heketi.average-file-size")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0)
        .unwrap_or(limits.average_file_size_kb);
    Ok(placement::Request {
        size_gib,
        layout,
        arbiter,
        snapshot_factor: volume.snapshot.factor,
        zone_strict,
        tag_rule,
        average_file_kib,
        existing_bricks,
        limits: BrickLimits {
            min_brick_kib: limits.brick_min_size_gb * KIB_PER_GIB,
            max_brick_kib: limits.brick_max_size_gb * KIB_PER_GIB,
            max_bricks_per_volume: limits.max_bricks_per_volume,
        },
    })
}

pub(crate) fn split_options(list: &str) -> impl Iterator<Item = String> + '_ {
    // Go's strings.Split: an empty string gives one empty element.
    list.split(',').map(str::to_string)
}

/// A brick's node-side description.
pub(crate) fn brick_spec(brick: &BrickRecord, gid: i64) -> BrickSpec {
    BrickSpec {
        device_id: brick.device.clone(),
        brick_id: brick.id.clone(),
        thin_pool: if brick.lvm_thin_pool.is_empty() {
            format!("tp_{}", brick.id)
        } else {
            brick.lvm_thin_pool.clone()
        },
        lv: if brick.lvm_lv.is_empty() {
            format!("brick_{}", brick.id)
        } else {
            brick.lvm_lv.clone()
        },
        size_kib: brick.size,
        tp_kib: brick.tp_size,
        meta_kib: brick.pool_metadata_size,
        gid,
        arbiter: brick.sub_type == BrickRole::Arbiter,
        path: brick.path.clone(),
    }
}

pub(crate) fn limits(engine: &Engine) -> &VolumeLimits {
    &engine.settings.limits
}

/// What placement sees of one cluster: online devices of online nodes,
/// except nodes the health monitor found down.
pub(crate) fn cluster_slot(engine: &Engine, cluster: &ClusterRecord) -> Result<ClusterSlot, OpError> {
    let node_ids = engine.store.children(TreeName::ClusterNodes, &cluster.id)?;
    let down = engine.health.down_nodes();
    let mut devices = Vec::new();
    let mut nodes_down = 0;
    for node_id in &node_ids {
        let Some(node) = engine.store.get::<NodeRecord>(node_id)? else {
            continue;
        };
        if node.state != EntityState::Online {
            continue;
        }
        if down.contains(&node.id) {
            nodes_down += 1;
            continue;
        }
        for device_id in engine.store.children(TreeName::NodeDevices, node_id)? {
            let Some(d) = engine.store.get::<DeviceRecord>(&device_id)? else {
                continue;
            };
            if d.state != EntityState::Online {
                continue;
            }
            devices.push(DeviceSlot {
                tags: merged(&node.tags, &d.tags),
                id: d.id,
                node: node.id.clone(),
                zone: node.zone,
                free: d.space.free,
                extent_kib: d.extent_size,
            });
        }
    }
    Ok(ClusterSlot {
        id: cluster.id.clone(),
        block: cluster.block,
        file: cluster.file,
        node_count: node_ids.len(),
        devices,
        nodes_down,
    })
}

/// Why `cluster` cannot take a new volume named `name`, if it cannot.
pub(crate) fn ineligible(
    engine: &Engine,
    cluster: &ClusterRecord,
    name: &str,
    block: bool,
) -> Result<Option<String>, OpError> {
    if let Some(reason) = type_refusal(cluster, block) {
        return Ok(Some(reason));
    }
    if let Some(reason) = name_in_use(engine, &cluster.id, name)? {
        return Ok(Some(reason));
    }
    full(engine, cluster)
}

/// The cluster's own record refuses the volume's type.
fn type_refusal(cluster: &ClusterRecord, block: bool) -> Option<String> {
    if !cluster.block && !cluster.file {
        return Some("Cluster has disabled all volume types".into());
    }
    if (block && !cluster.block) || (!block && !cluster.file) {
        return Some("Cluster does not support requested volume type".into());
    }
    None
}

fn name_in_use(engine: &Engine, cluster: &str, name: &str) -> Result<Option<String>, OpError> {
    let used = engine
        .store
        .index_get(TreeName::VolumeNames, &volume_name_key(cluster, name))?
        .is_some();
    Ok(used.then(|| format!("Volume name '{name}' already in use")))
}

/// The cluster holds `max_volumes_per_cluster` volumes already.
fn full(engine: &Engine, cluster: &ClusterRecord) -> Result<Option<String>, OpError> {
    if let Some(max) = limits(engine).max_volumes_per_cluster {
        let count = engine.store.child_count(TreeName::ClusterVolumes, &cluster.id)?;
        if count >= max {
            return Ok(Some(format!("Cluster has {count} volumes and limit is {max}")));
        }
    }
    Ok(None)
}

/// Why one candidate cluster could not take a volume.
enum Unfit {
    Ineligible(String),
    /// At its volume limit; whether the name is in use there too (which
    /// `ineligible` reports first) is only asked if no cluster fits.
    Full(String),
    Refused(Refusal),
}

/// Picks a cluster and places the bricks, or says why nothing fits.
pub(crate) fn plan_create(
    engine: &Engine,
    volume: &VolumeRecord,
    candidates: &[ClusterRecord],
) -> Result<(String, Plan), OpError> {
    plan_create_for(engine, volume, candidates, "Failed to allocate new volume")
}

/// `plan_create` for a request whose failures start with `what` (a block
/// volume's hosting volume answers for the block volume).
pub(crate) fn plan_create_for(
    engine: &Engine,
    volume: &VolumeRecord,
    candidates: &[ClusterRecord],
    what: &str,
) -> Result<(String, Plan), OpError> {
    let fail = |why: String| OpError::Internal(format!("{what}: {why}"));
    let request = placement_request(volume, volume.size_gib, 0, limits(engine)).map_err(|e| fail(e.to_string()))?;
    let mut unfit: Vec<(String, Unfit)> = Vec::new();
    for cluster in candidates {
        // The kept count is one key; the name is a lookup in an index of
        // every volume, which at 50,000 volumes mostly misses sled's cache:
        // full clusters are passed over before it.
        let reason = match type_refusal(cluster, volume.block) {
            Some(reason) => Some(Unfit::Ineligible(reason)),
            None => match full(engine, cluster) {
                Ok(Some(reason)) => Some(Unfit::Full(reason)),
                Ok(None) => name_in_use(engine, &cluster.id, &volume.name)
                    .map_err(|e| fail(e.to_string()))?
                    .map(Unfit::Ineligible),
                Err(e) => return Err(fail(e.to_string())),
            },
        };
        if let Some(reason) = reason {
            unfit.push((cluster.id.clone(), reason));
            continue;
        }
        let slot = cluster_slot(engine, cluster).map_err(|e| fail(e.to_string()))?;
        match placement::place_in_cluster(&slot, &request, &mut new_id) {
            Ok(plan) => return Ok((cluster.id.clone(), plan)),
            Err(Refusal::Arbiter(e)) => return Err(fail(e.to_string())),
            Err(r) => unfit.push((cluster.id.clone(), Unfit::Refused(r))),
        }
    }
    for (cluster, u) in &mut unfit {
        if let Unfit::Full(count) = u {
            let name = name_in_use(engine, cluster, &volume.name).map_err(|e| fail(e.to_string()))?;
            *u = Unfit::Ineligible(name.unwrap_or_else(|| count.clone()));
        }
    }
    let no_space: Option<Vec<(&String, &String)>> = unfit
        .iter()
        .map(|(c, u)| match u {
            Unfit::Refused(Refusal::NoSpace(why)) => Some((c, why)),
            _ => None,
        })
        .collect();
    let text = |u: &Unfit| match u {
        Unfit::Ineligible(reason) | Unfit::Full(reason) => reason.clone(),
        Unfit::Refused(r) => r.to_string(),
    };
    Err(fail(match (unfit.as_slice(), no_space) {
        ([], _) => "No space".to_string(),
        ([(_, only)], _) => text(only),
        (_, Some(all)) => format!(
            "No space: {}",
            all.iter()
                .map(|(c, why)| format!("cluster {c}: {why}"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        (many, None) => format!(
            "Unable to create volume on any cluster:\n{}",
            many.iter()
                .map(|(c, u)| format!("Cluster {c}: {}", text(u)))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }))
}

/// Brick records for a plan, in gluster order.
pub(crate) fn new_bricks(volume: &VolumeRecord, plan: &Plan) -> Vec<BrickRecord> {
    plan.bricks()
        .map(|b| placed_brick(b, &volume.id, volume.pending.clone()))
        .collect()
}

/// The record of a placed brick, charged its pool, marked `pending`.
pub(crate) fn placed_brick(b: &PlannedBrick, volume_id: &str, pending: Option<String>) -> BrickRecord {
    BrickRecord {
        path: brick_path(&b.device, &b.id),
        device: b.device.clone(),
        node: b.node.clone(),
        volume: volume_id.to_string(),
        size: b.size_kib,
        tp_size: b.pool.tp,
        pool_metadata_size: b.pool.meta,
        lvm_thin_pool: format!("tp_{}", b.id),
        lvm_lv: format!("brick_{}", b.id),
        sub_type: if b.arbiter { BrickRole::Arbiter } else { BrickRole::Data },
        charged: b.pool.total(),
        pending,
        retired: false,
        id: b.id.clone(),
    }
}
