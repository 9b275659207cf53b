//! Volume create, delete, expand, clone and block restriction.
//!
//! Each is planned over a snapshot of the store, journalled with its
//! reservations (bricks, device space, name) in one transaction, executed on
//! the nodes, then committed. The reservation transaction re-checks every
//! device's free space, so concurrent creates never double-allocate without
//! a global lock; a changed device sends the request back to planning.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::future::join_all;

use crate::config::VolumeLimits;
use crate::executor::{brick_path, clone_snapshot_name, BrickSpec, GlusterVolumeSpec, VolumeLayout};
use crate::ids::new_id;
use crate::placement::filters::{merged, TagRule};
use crate::placement::sizing::{BrickLimits, KIB_PER_GIB};
use crate::placement::{self, ClusterSlot, DeviceSlot, Layout, Plan, Refusal};
use crate::store::records::{
    BlockInfoRecord, BrickRecord, ClusterRecord, DeviceRecord, DurabilityRecord, EntityState, NodeRecord, QueueOutcome,
    SnapshotRecord, VolumeRecord,
};
use crate::store::{Abort, TreeName, Tx};

use super::journal::{Action, JournalEntry, JournalStatus};
use super::{queue, Engine, OpError};

/// How often a create or expand re-plans when the store changed under it.
const PLAN_ATTEMPTS: usize = 5;
/// The name of the volume holding Heketi's own database.
pub const DB_VOLUME: &str = "heketidbstorage";

/// A volume-create request after decoding, before Heketi's semantic checks.
#[derive(Debug, Clone, Default)]
pub struct VolumeCreate {
    pub size: i64,
    pub name: String,
    pub clusters: Vec<String>,
    pub durability: DurabilityRecord,
    pub gid: i64,
    pub options: Vec<String>,
    pub block: bool,
    pub snapshot: SnapshotRecord,
}

/// A volume with its bricks and mount hosts, as info responses need it.
#[derive(Debug, Clone)]
pub struct VolumeView {
    pub record: VolumeRecord,
    pub bricks: Vec<BrickRecord>,
    pub hosts: Vec<String>,
}

fn bad(msg: impl Into<String>) -> OpError {
    OpError::BadRequest(msg.into())
}

/// Go's `strconv.ParseBool` truth.
fn go_true(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// Options as Heketi reads them: split at the first space, later wins.
fn option_map(options: &[String]) -> BTreeMap<String, String> {
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
    match d.kind.as_str() {
        "replicate" => Layout::Replicate(if d.replica == 0 { 2 } else { d.replica as u64 }),
        "disperse" => Layout::Disperse {
            data: d.data as u64,
            redundancy: d.redundancy as u64,
        },
        _ => Layout::Distribute,
    }
}

fn gluster_layout(layout: Layout, arbiter: bool) -> VolumeLayout {
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
        Some(rule) => Some(TagRule::parse(rule).map_err(OpError::Internal)?),
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

fn split_options(list: &str) -> impl Iterator<Item = String> + '_ {
    // Go's strings.Split: an empty string gives one empty element.
    list.split(',').map(str::to_string)
}

pub(crate) fn volume_name_key(cluster: &str, name: &str) -> String {
    format!("{cluster}/{name}")
}

fn in_use(what: &str) -> OpError {
    OpError::Internal(format!(
        "{what}: The target exists, contains other items, or is in use."
    ))
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
        arbiter: brick.sub_type == 2,
        path: brick.path.clone(),
    }
}

impl Engine {
    fn limits(&self) -> &VolumeLimits {
        &self.settings.limits
    }

    /// Storage hostnames of every node of the cluster, in node-id order.
    pub fn mount_hosts(&self, cluster: &str) -> Result<Vec<String>, OpError> {
        Ok(self
            .store
            .children(TreeName::ClusterNodes, cluster)?
            .iter()
            .filter_map(|n| self.store.get::<NodeRecord>(n).ok().flatten())
            .map(|n| n.storage_host().to_string())
            .collect())
    }

    pub fn brick_exists(&self, id: &str) -> Result<bool, OpError> {
        Ok(self.store.get::<BrickRecord>(id)?.is_some())
    }

    pub fn list_volumes(&self) -> Result<Vec<String>, OpError> {
        Ok(self.store.index_keys(TreeName::VisibleVolumes)?)
    }

    /// Volumes of a cluster that clients may see.
    pub fn visible_volumes(&self, cluster: &str) -> Result<Vec<String>, OpError> {
        let mut out = Vec::new();
        for id in self.store.children(TreeName::ClusterVolumes, cluster)? {
            if self.store.index_get(TreeName::VisibleVolumes, &id)?.is_some() {
                out.push(id);
            }
        }
        Ok(out)
    }

    fn visible_volume(&self, id: &str) -> Result<VolumeRecord, OpError> {
        let volume = self.store.get::<VolumeRecord>(id)?.ok_or_else(OpError::id_not_found)?;
        if !volume.pending.is_empty() {
            return Err(OpError::id_not_found());
        }
        Ok(volume)
    }

    fn volume_bricks(&self, volume: &str) -> Result<Vec<BrickRecord>, OpError> {
        let mut out = Vec::new();
        for id in self.store.children(TreeName::VolumeBricks, volume)? {
            if let Some(b) = self.store.get::<BrickRecord>(&id)? {
                out.push(b);
            }
        }
        Ok(out)
    }

    pub fn volume_info(&self, id: &str) -> Result<VolumeView, OpError> {
        let mut record = self.visible_volume(id)?;
        record.blockinfo.block_volumes =
            self.only_visible_block_volumes(std::mem::take(&mut record.blockinfo.block_volumes))?;
        Ok(VolumeView {
            bricks: self.volume_bricks(id)?,
            hosts: self.mount_hosts(&record.cluster)?,
            record,
        })
    }

    /// What placement sees of one cluster: online devices of online nodes.
    pub(crate) fn cluster_slot(&self, cluster: &ClusterRecord) -> Result<ClusterSlot, OpError> {
        let node_ids = self.store.children(TreeName::ClusterNodes, &cluster.id)?;
        let mut devices = Vec::new();
        for node_id in &node_ids {
            let Some(node) = self.store.get::<NodeRecord>(node_id)? else {
                continue;
            };
            if node.state != EntityState::Online {
                continue;
            }
            for device_id in self.store.children(TreeName::NodeDevices, node_id)? {
                let Some(d) = self.store.get::<DeviceRecord>(&device_id)? else {
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
        })
    }

    /// Why `cluster` cannot take a new volume named `name`, if it cannot.
    fn ineligible(&self, cluster: &ClusterRecord, name: &str, block: bool) -> Result<Option<String>, OpError> {
        if !cluster.block && !cluster.file {
            return Ok(Some("Cluster has disabled all volume types".into()));
        }
        if (block && !cluster.block) || (!block && !cluster.file) {
            return Ok(Some("Cluster does not support requested volume type".into()));
        }
        if self
            .store
            .index_get(TreeName::VolumeNames, &volume_name_key(&cluster.id, name))?
            .is_some()
        {
            return Ok(Some(format!("Volume name '{name}' already in use")));
        }
        if let Some(max) = self.limits().max_volumes_per_cluster {
            let count = self.store.children(TreeName::ClusterVolumes, &cluster.id)?.len() as u64;
            if count >= max {
                return Ok(Some(format!("Cluster has {count} volumes and limit is {max}")));
            }
        }
        Ok(None)
    }

    /// Picks a cluster and places the bricks, or says why nothing fits.
    fn plan_create(&self, volume: &VolumeRecord, candidates: &[ClusterRecord]) -> Result<(String, Plan), String> {
        let request = placement_request(volume, volume.size_gib, 0, self.limits()).map_err(|e| e.to_string())?;
        let mut reasons: Vec<(String, String)> = Vec::new();
        for cluster in candidates {
            match self.ineligible(cluster, &volume.name, volume.block) {
                Ok(Some(reason)) => {
                    reasons.push((cluster.id.clone(), reason));
                    continue;
                }
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
            let slot = self.cluster_slot(cluster).map_err(|e| e.to_string())?;
            match placement::place_in_cluster(&slot, &request, &mut new_id) {
                Ok(plan) => return Ok((cluster.id.clone(), plan)),
                Err(Refusal::Other(e)) => return Err(e),
                Err(r) => reasons.push((cluster.id.clone(), r.to_string())),
            }
        }
        Err(match reasons.as_slice() {
            [] => "No space".to_string(),
            [(_, only)] => only.clone(),
            many if many.iter().all(|(_, r)| r.starts_with("No space")) => format!(
                "No space: {}",
                many.iter()
                    .map(|(c, r)| format!("cluster {c}: {}", r.trim_start_matches("No space: ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            many => format!(
                "Unable to create volume on any cluster:\n{}",
                many.iter()
                    .map(|(c, r)| format!("Cluster {c}: {r}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        })
    }

    /// Heketi's semantic checks, in its order, and the record they yield.
    fn prepare_create(&self, req: &VolumeCreate) -> Result<(VolumeRecord, Vec<ClusterRecord>), OpError> {
        if req.gid < 0 {
            return Err(bad("Bad group id less than zero"));
        }
        if req.gid >= i64::from(i32::MAX) {
            return Err(bad("Bad group id equal or greater than 2**32"));
        }
        let mut durability = req.durability.clone();
        match durability.kind.as_str() {
            "" => durability.kind = "none".into(),
            "none" | "replicate" | "disperse" => {}
            _ => return Err(bad("Unknown durability type")),
        }
        if req.snapshot.enable && !(1.0..=100.0).contains(&req.snapshot.factor) {
            return Err(bad("Invalid snapshot factor"));
        }
        if durability.kind == "replicate" && !(0..=3).contains(&durability.replica) {
            return Err(bad("Invalid replica value"));
        }
        if durability.kind == "disperse"
            && !matches!(
                (durability.data, durability.redundancy),
                (2, 1) | (4, 2) | (8, 3) | (8, 4)
            )
        {
            return Err(bad(format!(
                "Invalid dispersion combination: {}+{}",
                durability.data, durability.redundancy
            )));
        }
        let all = self.store.scan::<ClusterRecord>()?;
        if all.is_empty() {
            return Err(bad("No clusters configured"));
        }
        let candidates = if req.clusters.is_empty() {
            all
        } else {
            let mut out = Vec::new();
            for id in &req.clusters {
                match all.iter().find(|c| &c.id == id) {
                    Some(c) => out.push(c.clone()),
                    None => return Err(bad(format!("Cluster id {id} not found"))),
                }
            }
            out
        };
        let limits = self.limits();
        let layout = layout_of(&durability);
        let min_kib = limits.brick_min_size_gb * KIB_PER_GIB * layout.data_bricks();
        let size_kib = (req.size.max(0) as u64)
            .checked_mul(KIB_PER_GIB)
            .ok_or_else(|| bad("Invalid volume size"))?;
        if size_kib < min_kib {
            return Err(bad(format!(
                "Requested volume size ({} GB) is smaller than the minimum supported volume size ({min_kib})",
                req.size
            )));
        }
        let mut options: Vec<String> = split_options(&limits.pre_request_volume_options).collect();
        if req.block {
            options.extend(split_options(&limits.block_hosting_volume_options));
        }
        options.extend(req.options.iter().cloned());
        options.extend(split_options(&limits.post_request_volume_options));
        let id = new_id();
        let size_gib = req.size as u64;
        let blockinfo = if req.block {
            let free = (size_gib * 98 / 100) as i64;
            BlockInfoRecord {
                free_gib: free,
                reserved_gib: size_gib as i64 - free,
                ..BlockInfoRecord::default()
            }
        } else {
            BlockInfoRecord::default()
        };
        let volume = VolumeRecord {
            name: if req.name.is_empty() {
                format!("vol_{id}")
            } else {
                req.name.clone()
            },
            id,
            cluster: String::new(),
            size_gib,
            durability,
            gid: req.gid,
            options,
            block: req.block,
            snapshot: SnapshotRecord {
                enable: req.snapshot.enable,
                factor: if req.snapshot.enable { req.snapshot.factor } else { 1.0 },
            },
            blockinfo,
            brick_order: vec![],
            pending: String::new(),
        };
        // Arbiter and tag settings are checked before anything is reserved.
        placement_request(&volume, size_gib, 0, limits).map_err(|e| match e {
            OpError::Internal(why) => OpError::Internal(format!("Failed to allocate new volume: {why}")),
            other => other,
        })?;
        Ok((volume, candidates))
    }

    /// Checks, plans, journals and starts a volume create; returns the queue id.
    pub async fn create_volume(self: &Arc<Self>, req: VolumeCreate) -> Result<String, OpError> {
        let (mut volume, candidates) = self.prepare_create(&req)?;
        for _ in 0..PLAN_ATTEMPTS {
            let permit = self.throttle.acquire().await?;
            let (cluster, plan) = self
                .plan_create(&volume, &candidates)
                .map_err(|why| OpError::Internal(format!("Failed to allocate new volume: {why}")))?;
            volume.cluster = cluster;
            let entry = JournalEntry::new(Action::CreateVolume {
                volume_id: volume.id.clone(),
                bricks: vec![],
            });
            volume.pending = entry.id.clone();
            let bricks = new_bricks(&volume, &plan);
            volume.brick_order = bricks.iter().map(|b| b.id.clone()).collect();
            let entry = JournalEntry {
                action: Action::CreateVolume {
                    volume_id: volume.id.clone(),
                    bricks: volume.brick_order.clone(),
                },
                ..entry
            };
            let max = self.limits().max_volumes_per_cluster;
            let reserve = |tx: &Tx<'_>| {
                reserve_volume(tx, &volume, max)?;
                reserve_bricks(tx, &volume.id, &bricks)
            };
            match self.submit(entry, Some(permit), reserve).await {
                // A device filled up under the plan: plan again.
                Err(OpError::Retry) => continue,
                other => return other,
            }
        }
        Err(OpError::Retry)
    }

    /// Manage and storage hostnames of a node.
    fn hosts_of(&self, node: &str) -> Result<(String, String), OpError> {
        let n = self
            .store
            .get::<NodeRecord>(node)?
            .ok_or_else(|| OpError::Internal(format!("node {node} of a brick is gone")))?;
        Ok((n.manage_host().to_string(), n.storage_host().to_string()))
    }

    /// Creates bricks in parallel, bounded per node.
    async fn create_bricks(&self, bricks: &[BrickRecord], gid: i64) -> Result<(), OpError> {
        let mut jobs = Vec::new();
        for b in bricks {
            let (host, _) = self.hosts_of(&b.node)?;
            let spec = brick_spec(b, gid);
            jobs.push(async move {
                let _slot = self.hosts.enter(&host).await;
                self.executor.brick_create(&host, &spec).await
            });
        }
        for result in join_all(jobs).await {
            result.map_err(|e| OpError::Internal(e.to_string()))?;
        }
        Ok(())
    }

    /// Destroys bricks in parallel; returns which were reclaimed.
    async fn destroy_bricks(&self, bricks: &[BrickRecord], gid: i64) -> Result<HashMap<String, bool>, OpError> {
        let mut jobs = Vec::new();
        for b in bricks {
            let (host, _) = self.hosts_of(&b.node)?;
            let spec = brick_spec(b, gid);
            let id = b.id.clone();
            jobs.push(async move {
                let _slot = self.hosts.enter(&host).await;
                (id, self.executor.brick_destroy(&host, &spec).await)
            });
        }
        let mut reclaimed = HashMap::new();
        for (id, result) in join_all(jobs).await {
            reclaimed.insert(id, result.map_err(|e| OpError::Internal(e.to_string()))?);
        }
        Ok(reclaimed)
    }

    fn gluster_spec(&self, volume: &VolumeRecord, bricks: &[BrickRecord]) -> Result<GlusterVolumeSpec, OpError> {
        let mut entries = Vec::new();
        for b in bricks {
            let (_, storage) = self.hosts_of(&b.node)?;
            entries.push(format!("{storage}:{}", b.path));
        }
        let arbiter = option_map(&volume.options)
            .get("user.heketi.arbiter")
            .is_some_and(|v| go_true(v));
        let mut options = volume.options.clone();
        options.push(format!("user.heketi.id {}", volume.id));
        Ok(GlusterVolumeSpec {
            name: volume.name.clone(),
            layout: gluster_layout(layout_of(&volume.durability), arbiter),
            bricks: entries,
            options,
        })
    }

    /// Bricks in the given order.
    fn bricks_by_id(&self, ids: &[String]) -> Result<Vec<BrickRecord>, OpError> {
        ids.iter()
            .map(|id| {
                self.store
                    .get::<BrickRecord>(id)?
                    .ok_or_else(|| OpError::Internal(format!("brick {id} is missing from the store")))
            })
            .collect()
    }

    /// A node of the cluster to run gluster commands on: the first online one.
    fn gluster_host(&self, cluster: &str) -> Result<String, OpError> {
        for node_id in self.store.children(TreeName::ClusterNodes, cluster)? {
            if let Some(node) = self.store.get::<NodeRecord>(&node_id)? {
                if node.state == EntityState::Online {
                    return Ok(node.manage_host().to_string());
                }
            }
        }
        Err(OpError::Internal(format!(
            "No online node in cluster {cluster} to run gluster on"
        )))
    }

    /// Heketi's "try on hosts": stop and delete the gluster volume from the
    /// first online node that manages it, so one dead node cannot block it.
    async fn destroy_gluster_volume(&self, cluster: &str, name: &str) -> Result<(), OpError> {
        let mut last = None;
        for node_id in self.store.children(TreeName::ClusterNodes, cluster)? {
            let Some(node) = self.store.get::<NodeRecord>(&node_id)? else {
                continue;
            };
            if node.state != EntityState::Online {
                continue;
            }
            match self.executor.volume_destroy(node.manage_host(), name).await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(OpError::Internal(match last {
            Some(e) => format!("Unable to delete volume {name}: {e}"),
            None => format!("No online node in cluster {cluster} to run gluster on"),
        }))
    }

    pub(crate) async fn create_volume_execute(
        &self,
        entry: &JournalEntry,
        volume_id: &str,
        brick_ids: &[String],
    ) -> Result<(), OpError> {
        let mut brick_ids = brick_ids.to_vec();
        let mut retries_left = self.limits().volume_create_retries;
        loop {
            let volume = self
                .store
                .get::<VolumeRecord>(volume_id)?
                .ok_or_else(|| OpError::Internal(format!("volume {volume_id} is missing from the store")))?;
            let error = match self.make_volume(&volume, &brick_ids).await {
                Ok(()) => break,
                Err(e) => e,
            };
            if retries_left == 0 {
                return Err(error);
            }
            retries_left -= 1;
            tracing::warn!(volume = volume_id, error = %error, retries_left, "volume create failed; retrying with a new placement");
            // As Heketi does: undo, place again, try again.
            self.undo_volume(volume_id, &brick_ids)
                .await
                .map_err(|_| error.clone())?;
            brick_ids = self
                .replace_bricks(entry, &volume, &brick_ids)
                .map_err(|_| error.clone())?;
            // Recovery must know the new bricks before any of them exists.
            self.flush().await?;
        }
        let cluster = self
            .store
            .get::<VolumeRecord>(volume_id)?
            .map(|v| v.cluster)
            .unwrap_or_default();
        self.commit(entry, QueueOutcome::SeeOther(format!("/volumes/{volume_id}")), |tx| {
            clear_pending(tx, volume_id, &brick_ids)?;
            tx.index_put(TreeName::VisibleVolumes, volume_id, &cluster)
        })
    }

    /// Bricks, then the gluster volume.
    async fn make_volume(&self, volume: &VolumeRecord, brick_ids: &[String]) -> Result<(), OpError> {
        let bricks = self.bricks_by_id(brick_ids)?;
        self.create_bricks(&bricks, volume.gid).await?;
        let spec = self.gluster_spec(volume, &bricks)?;
        let (host, _) = self.hosts_of(&bricks[0].node)?;
        self.executor
            .volume_create(&host, &spec)
            .await
            .map_err(|e| OpError::Internal(e.to_string()))
    }

    /// Swaps a failed attempt's bricks for a fresh placement in the same
    /// cluster: the old ones are released first (so their space counts),
    /// the journal entry always names the bricks that exist.
    fn replace_bricks(
        &self,
        entry: &JournalEntry,
        volume: &VolumeRecord,
        old: &[String],
    ) -> Result<Vec<String>, OpError> {
        let set_bricks = |tx: &Tx<'_>, ids: &[String]| -> Result<(), Abort<OpError>> {
            let mut stored = tx
                .get::<JournalEntry, OpError>(&entry.id)?
                .ok_or(Abort::User(OpError::Conflict("operation is no longer pending".into())))?;
            stored.action = Action::CreateVolume {
                volume_id: volume.id.clone(),
                bricks: ids.to_vec(),
            };
            tx.put(&stored)?;
            if let Some(mut v) = tx.get::<VolumeRecord, OpError>(&volume.id)? {
                v.brick_order = ids.to_vec();
                tx.put(&v)?;
            }
            Ok(())
        };
        self.store.transact(|tx| {
            self.release_bricks(tx, old)?;
            set_bricks(tx, &[])
        })?;
        let cluster = self
            .store
            .get::<ClusterRecord>(&volume.cluster)?
            .ok_or_else(|| OpError::Internal(format!("cluster {} is gone", volume.cluster)))?;
        let request = placement_request(volume, volume.size_gib, 0, self.limits())?;
        let plan = placement::place_in_cluster(&self.cluster_slot(&cluster)?, &request, &mut new_id)
            .map_err(|r| OpError::Internal(format!("Failed to allocate new volume: {r}")))?;
        let bricks = new_bricks(volume, &plan);
        let ids: Vec<String> = bricks.iter().map(|b| b.id.clone()).collect();
        self.store.transact(|tx| {
            reserve_bricks(tx, &volume.id, &bricks)?;
            set_bricks(tx, &ids)
        })?;
        Ok(ids)
    }

    /// Node-side undo of a clone: the snapshot it was made from (left by a
    /// crash in the middle), the gluster volume, then the clone's own brick
    /// LVs and mounts, which gluster's volume delete leaves behind. The
    /// store learns where those are only at commit, so they are read from
    /// gluster and recorded (durably) before the volume, gluster's own
    /// record of them, is deleted: an undo cut short can be run again.
    pub(crate) async fn undo_clone(&self, clone_id: &str, brick_ids: &[String]) -> Result<(), String> {
        let Some(clone) = self.store.get::<VolumeRecord>(clone_id).map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let host = self.gluster_host(&clone.cluster).map_err(|e| e.to_string())?;
        self.executor
            .snapshot_destroy(&host, &clone_snapshot_name(clone_id))
            .await
            .map_err(|e| e.to_string())?;
        let made = self
            .executor
            .volume_info(&host, &clone.name)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(made) = made {
            let placed = clone_brick_places(&made.id, &made.bricks);
            self.store
                .transact(|tx| {
                    for (id, (path, lv)) in brick_ids.iter().zip(&placed) {
                        if let Some(mut b) = tx.get::<BrickRecord, OpError>(id)? {
                            b.path = path.clone();
                            b.lvm_lv = lv.clone();
                            tx.put(&b)?;
                        }
                    }
                    Ok(())
                })
                .map_err(|e| OpError::from(e).to_string())?;
            self.flush().await.map_err(|e| e.to_string())?;
        }
        self.destroy_gluster_volume(&clone.cluster, &clone.name)
            .await
            .map_err(|e| e.to_string())?;
        let bricks: Vec<BrickRecord> = brick_ids
            .iter()
            .filter_map(|id| self.store.get::<BrickRecord>(id).ok().flatten())
            .filter(|b| !b.path.is_empty())
            .collect();
        self.destroy_bricks(&bricks, clone.gid)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Node-side undo of a create: the gluster volume and the bricks.
    pub(crate) async fn undo_volume(&self, volume_id: &str, brick_ids: &[String]) -> Result<(), String> {
        let Some(volume) = self.store.get::<VolumeRecord>(volume_id).map_err(|e| e.to_string())? else {
            return Ok(());
        };
        match self.destroy_gluster_volume(&volume.cluster, &volume.name).await {
            Err(OpError::Internal(e)) if e.starts_with("No online node") => {}
            other => other.map_err(|e| e.to_string())?,
        }
        let bricks: Vec<BrickRecord> = brick_ids
            .iter()
            .filter_map(|id| self.store.get::<BrickRecord>(id).ok().flatten())
            .collect();
        self.destroy_bricks(&bricks, volume.gid)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub async fn delete_volume(self: &Arc<Self>, id: &str) -> Result<String, OpError> {
        let volume = self.visible_volume(id)?;
        if volume.name == DB_VOLUME {
            return Err(OpError::Conflict(
                "Cannot delete volume containing the Heketi database".into(),
            ));
        }
        if volume.block && !volume.blockinfo_has_no_block_volumes() {
            return Err(OpError::Conflict(
                "Cannot delete a block hosting volume containing block volumes".into(),
            ));
        }
        let permit = self.throttle.acquire().await?;
        let bricks = self.store.children(TreeName::VolumeBricks, id)?;
        let entry = JournalEntry::new(Action::DeleteVolume {
            volume_id: id.to_string(),
            bricks: bricks.clone(),
        });
        let op = entry.id.clone();
        self.submit(entry, Some(permit), |tx| {
            let mut v = tx
                .get::<VolumeRecord, OpError>(id)?
                .ok_or(Abort::User(OpError::id_not_found()))?;
            if !v.pending.is_empty() {
                return Err(Abort::User(in_use("Failed to set up volume delete")));
            }
            if tx.child_count::<OpError>(TreeName::VolumeBricks, id)? != bricks.len() as u64 {
                return Err(Abort::User(in_use("Failed to set up volume delete")));
            }
            v.pending = op.clone();
            tx.put(&v)?;
            for b in &bricks {
                let mut brick = tx
                    .get::<BrickRecord, OpError>(b)?
                    .ok_or(Abort::User(in_use("Failed to set up volume delete")))?;
                if !brick.pending.is_empty() {
                    return Err(Abort::User(in_use("Failed to set up volume delete")));
                }
                brick.pending = op.clone();
                tx.put(&brick)?;
            }
            tx.index_remove(TreeName::VisibleVolumes, id)
        })
        .await
    }

    pub(crate) async fn delete_volume_execute(
        &self,
        entry: &JournalEntry,
        volume_id: &str,
        brick_ids: &[String],
    ) -> Result<(), OpError> {
        let Some(volume) = self.store.get::<VolumeRecord>(volume_id)? else {
            return self.commit(entry, QueueOutcome::NoContent, |_| Ok(()));
        };
        if let Err(error) = self.destroy_gluster_volume(&volume.cluster, &volume.name).await {
            // The gluster volume gone is the point of no return, and only
            // gluster can say whether it is (a delete that ran before a
            // crash, a lost answer): still there, the delete is undone;
            // gone, it goes on; gluster silent, it waits for a cleanup.
            let fresh = entry.status == JournalStatus::New;
            match self.gluster_has_volume(&volume).await {
                Ok(true) => return Err(error),
                // No node to run gluster on, in this run: nothing was deleted.
                Err(_) if fresh && self.gluster_host(&volume.cluster).is_err() => return Err(error),
                Ok(false) => {
                    tracing::warn!(volume = %volume.name, error = %error, "volume delete failed, but gluster no longer has the volume")
                }
                Err(check) => {
                    return Err(OpError::Undecided(format!(
                        "{error}; and gluster could not say whether it still has the volume: {check}"
                    )))
                }
            }
        }
        // Past this point the gluster volume is gone: finish, never revert.
        let bricks: Vec<BrickRecord> = brick_ids
            .iter()
            .filter_map(|id| self.store.get::<BrickRecord>(id).ok().flatten())
            .collect();
        let reclaimed = self.destroy_bricks(&bricks, volume.gid).await.map_err(|e| {
            OpError::Incomplete(format!(
                "Volume {} deleted, but removing its bricks failed: {e}",
                volume.name
            ))
        })?;
        self.commit(entry, QueueOutcome::NoContent, |tx| {
            for id in brick_ids {
                // The stored copy: a concurrent delete may have moved a charge to it.
                if let Some(b) = tx.get::<BrickRecord, OpError>(id)? {
                    drop_brick(tx, &b, reclaimed.get(id).copied().unwrap_or(true))?;
                }
            }
            drop_volume(tx, &volume)
        })
    }

    pub async fn expand_volume(self: &Arc<Self>, id: &str, expand_gib: u64) -> Result<String, OpError> {
        if expand_gib.checked_mul(KIB_PER_GIB).is_none() {
            return Err(bad("Invalid volume size"));
        }
        self.visible_volume(id)?;
        let permit = self.throttle.acquire().await?;
        let volume = self.visible_volume(id)?;
        let cluster = self
            .store
            .get::<ClusterRecord>(&volume.cluster)?
            .ok_or_else(|| OpError::Internal(format!("cluster {} of volume {id} is gone", volume.cluster)))?;
        let existing = self.store.children(TreeName::VolumeBricks, id)?.len() as u64;
        let request = placement_request(&volume, expand_gib, existing, self.limits())?;
        let slot = self.cluster_slot(&cluster)?;
        let plan = placement::place_in_cluster(&slot, &request, &mut new_id).map_err(|r| {
            OpError::Internal(format!(
                "Failed to allocate volume expansion: {}",
                match r {
                    Refusal::NoSpace(_)
                        if existing + request.layout.bricks_per_set() > request.limits.max_bricks_per_volume =>
                        "Maximum number of bricks reached.".to_string(),
                    other => other.to_string(),
                }
            ))
        })?;
        let bricks = new_bricks(&volume, &plan);
        let brick_ids: Vec<String> = bricks.iter().map(|b| b.id.clone()).collect();
        let entry = JournalEntry::new(Action::ExpandVolume {
            volume_id: id.to_string(),
            bricks: brick_ids,
            delta_gib: expand_gib,
        });
        let op = entry.id.clone();
        let bricks = marked_pending(bricks, &op);
        let linked = self.store.children(TreeName::VolumeBricks, id)?;
        self.submit(entry, Some(permit), |tx| {
            let v = tx
                .get::<VolumeRecord, OpError>(id)?
                .ok_or(Abort::User(OpError::id_not_found()))?;
            if volume_busy(tx, &v, &linked)? {
                return Err(Abort::User(in_use("Failed to allocate volume expansion")));
            }
            reserve_bricks(tx, id, &bricks)
        })
        .await
    }

    /// Whether gluster still has a volume, asked of a node of its cluster.
    async fn gluster_has_volume(&self, volume: &VolumeRecord) -> Result<bool, OpError> {
        let host = self.gluster_host(&volume.cluster)?;
        self.executor
            .volume_info(&host, &volume.name)
            .await
            .map(|v| v.is_some())
            .map_err(|e| OpError::Internal(e.to_string()))
    }

    /// How many of an expansion's new bricks gluster lists in the volume:
    /// none means `add-brick` (its point of no return) never took effect.
    async fn new_bricks_in_gluster(&self, volume: &VolumeRecord, bricks: &[BrickRecord]) -> Result<usize, OpError> {
        let host = self.gluster_host(&volume.cluster)?;
        let listed = self
            .executor
            .volume_bricks(&host, &volume.name)
            .await
            .map_err(|e| OpError::Internal(e.to_string()))?
            .unwrap_or_default();
        let spec = self.gluster_spec(volume, bricks)?;
        Ok(spec.bricks.iter().filter(|b| listed.contains(b)).count())
    }

    /// Whether gluster holds any of an expansion's new bricks.
    pub(crate) async fn expansion_reached_gluster(
        &self,
        volume_id: &str,
        brick_ids: &[String],
    ) -> Result<bool, OpError> {
        let Some(volume) = self.store.get::<VolumeRecord>(volume_id)? else {
            return Ok(false);
        };
        let bricks = self.bricks_by_id(brick_ids)?;
        Ok(self.new_bricks_in_gluster(&volume, &bricks).await? > 0)
    }

    pub(crate) async fn expand_volume_execute(
        &self,
        entry: &JournalEntry,
        volume_id: &str,
        brick_ids: &[String],
        delta_gib: u64,
    ) -> Result<(), OpError> {
        let volume = self
            .store
            .get::<VolumeRecord>(volume_id)?
            .ok_or_else(|| OpError::Internal(format!("volume {volume_id} is missing from the store")))?;
        let bricks = self.bricks_by_id(brick_ids)?;
        // A first run that fails creating bricks never reached add-brick;
        // a resumed one runs forward because gluster already has some.
        let resumed = entry.status != JournalStatus::New;
        let created = self.create_bricks(&bricks, volume.gid).await;
        if created.is_err() && !resumed {
            return created;
        }
        let expanded = async {
            created?;
            let spec = self.gluster_spec(&volume, &bricks)?;
            let (host, _) = self.hosts_of(&bricks[0].node)?;
            self.executor
                .volume_expand(&host, &spec)
                .await
                .map_err(|e| OpError::Internal(e.to_string()))
        }
        .await;
        if let Err(error) = expanded {
            // `add-brick` is the point of no return, and only gluster knows
            // whether it happened (a lost session, a commit failing on one
            // peer): before it, the expansion is undone like a create; past
            // it, the bricks are gluster's and it can only be finished.
            match self.new_bricks_in_gluster(&volume, &bricks).await {
                Ok(0) => return Err(error),
                Ok(n) if n == bricks.len() => {
                    tracing::warn!(volume = volume_id, error = %error, "expansion reported a failure, but gluster holds every new brick");
                }
                Ok(n) => {
                    return Err(OpError::Incomplete(format!(
                        "{error}; gluster holds {n} of the {} new bricks",
                        bricks.len()
                    )))
                }
                Err(check) => {
                    return Err(OpError::Undecided(format!(
                        "{error}; and gluster could not say whether it took the new bricks: {check}"
                    )))
                }
            }
        }
        self.commit(entry, QueueOutcome::SeeOther(format!("/volumes/{volume_id}")), |tx| {
            let mut v = tx
                .get::<VolumeRecord, OpError>(volume_id)?
                .ok_or(Abort::User(OpError::id_not_found()))?;
            v.size_gib += delta_gib;
            v.brick_order.extend(brick_ids.iter().cloned());
            if v.block {
                let free = (delta_gib * 98 / 100) as i64;
                v.blockinfo.free_gib += free;
                v.blockinfo.reserved_gib += delta_gib as i64 - free;
            }
            tx.put(&v)?;
            clear_pending(tx, "", brick_ids)
        })
    }

    pub(crate) async fn undo_bricks(&self, volume_id: &str, brick_ids: &[String]) -> Result<(), String> {
        let gid = self
            .store
            .get::<VolumeRecord>(volume_id)
            .ok()
            .flatten()
            .map(|v| v.gid)
            .unwrap_or(0);
        let bricks: Vec<BrickRecord> = brick_ids
            .iter()
            .filter_map(|id| self.store.get::<BrickRecord>(id).ok().flatten())
            .collect();
        self.destroy_bricks(&bricks, gid)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub async fn clone_volume(self: &Arc<Self>, id: &str, name: &str) -> Result<String, OpError> {
        let source = self.visible_volume(id)?;
        if source.block {
            return Err(OpError::Internal(format!(
                "Failed clone volume {id}: Cloning of block hosting volumes is not supported"
            )));
        }
        let permit = self.throttle.acquire().await?;
        let clone_id = new_id();
        let clone_name = if name.is_empty() {
            format!("vol_{clone_id}")
        } else {
            name.to_string()
        };
        let cluster = self
            .store
            .get::<ClusterRecord>(&source.cluster)?
            .ok_or_else(|| OpError::Internal(format!("cluster {} of volume {id} is gone", source.cluster)))?;
        if let Some(reason) = self.ineligible(&cluster, &clone_name, false)? {
            return Err(OpError::Internal(format!("Failed clone volume {id}: {reason}")));
        }
        let source_bricks = self.bricks_by_id(&source.brick_order)?;
        let clone_bricks: Vec<BrickRecord> = source_bricks
            .iter()
            .map(|b| BrickRecord {
                id: new_id(),
                path: String::new(),
                volume: clone_id.clone(),
                lvm_thin_pool: brick_spec(b, 0).thin_pool,
                lvm_lv: String::new(),
                charged: 0,
                ..b.clone()
            })
            .collect();
        let entry = JournalEntry::new(Action::CloneVolume {
            source_id: id.to_string(),
            clone_id: clone_id.clone(),
            bricks: clone_bricks.iter().map(|b| b.id.clone()).collect(),
        });
        let op = entry.id.clone();
        let clone = VolumeRecord {
            id: clone_id.clone(),
            name: clone_name,
            brick_order: clone_bricks.iter().map(|b| b.id.clone()).collect(),
            pending: op.clone(),
            ..source.clone()
        };
        let clone_bricks = marked_pending(clone_bricks, &op);
        let linked = self.store.children(TreeName::VolumeBricks, id)?;
        self.submit(entry, Some(permit), |tx| {
            let mut src = tx
                .get::<VolumeRecord, OpError>(id)?
                .ok_or(Abort::User(OpError::id_not_found()))?;
            if !src.pending.is_empty() {
                return Err(Abort::User(OpError::id_not_found()));
            }
            // The clone copies these bricks: none may be moving or being
            // added meanwhile.
            if src.brick_order != source.brick_order || volume_busy(tx, &src, &linked)? {
                return Err(Abort::User(in_use(&format!("Failed clone volume {id}"))));
            }
            // As in Heketi, the source answers 404 while it is being cloned
            // but stays listed.
            src.pending = op.clone();
            tx.put(&src)?;
            reserve_volume(tx, &clone, self.limits().max_volumes_per_cluster)?;
            reserve_bricks(tx, &clone_id, &clone_bricks)
        })
        .await
    }

    pub(crate) async fn clone_volume_execute(
        &self,
        entry: &JournalEntry,
        source_id: &str,
        clone_id: &str,
        brick_ids: &[String],
    ) -> Result<(), OpError> {
        let source = self
            .store
            .get::<VolumeRecord>(source_id)?
            .ok_or_else(|| OpError::Internal(format!("volume {source_id} is missing from the store")))?;
        let clone = self
            .store
            .get::<VolumeRecord>(clone_id)?
            .ok_or_else(|| OpError::Internal(format!("volume {clone_id} is missing from the store")))?;
        let host = self.gluster_host(&source.cluster)?;
        let report = self
            .executor
            .volume_clone(&host, &source.name, &clone.name, &clone_snapshot_name(clone_id))
            .await
            .map_err(|e| OpError::Internal(format!("Failed clone volume {source_id}: {e}")))?;
        if report.bricks.len() != brick_ids.len() {
            return Err(OpError::Internal(format!(
                "Failed clone volume {source_id}: gluster reported {} bricks, expected {}",
                report.bricks.len(),
                brick_ids.len()
            )));
        }
        let placed = clone_brick_places(&report.gluster_id, &report.bricks);
        self.commit(entry, QueueOutcome::SeeOther(format!("/volumes/{clone_id}")), |tx| {
            for (brick_id, (path, lv)) in brick_ids.iter().zip(&placed) {
                if let Some(mut b) = tx.get::<BrickRecord, OpError>(brick_id)? {
                    b.path = path.clone();
                    b.lvm_lv = lv.clone();
                    b.pending.clear();
                    tx.put(&b)?;
                }
            }
            for v in [source_id, clone_id] {
                if let Some(mut rec) = tx.get::<VolumeRecord, OpError>(v)? {
                    rec.pending.clear();
                    tx.index_put(TreeName::VisibleVolumes, v, &rec.cluster)?;
                    tx.put(&rec)?;
                }
            }
            Ok(())
        })
    }

    /// Locks or unlocks a block-hosting volume; answers like an async
    /// request whose outcome is already final.
    pub async fn set_block_restriction(&self, id: &str, restriction: &str) -> Result<String, OpError> {
        let volume = self.visible_volume(id)?;
        let _permit = self.throttle.acquire().await?;
        if !volume.block {
            return Err(OpError::Internal(
                "Failed to set block restriction: Block restrictions can only be set on block hosting volumes".into(),
            ));
        }
        let queue_id = self.store.transact(|tx| {
            let mut v = tx
                .get::<VolumeRecord, OpError>(id)?
                .ok_or(Abort::User(OpError::id_not_found()))?;
            if !v.pending.is_empty() {
                return Err(Abort::User(OpError::id_not_found()));
            }
            v.blockinfo.restriction = restriction.to_string();
            tx.put(&v)?;
            queue::finished(tx, QueueOutcome::SeeOther(format!("/volumes/{id}")))
        })?;
        self.flush().await?;
        Ok(queue_id)
    }

    /// Store-side undo of a create or clone: bricks, space, names, volume.
    pub(crate) fn release_volume(
        &self,
        tx: &Tx<'_>,
        volume_id: &str,
        brick_ids: &[String],
    ) -> Result<(), Abort<OpError>> {
        for id in brick_ids {
            if let Some(b) = tx.get::<BrickRecord, OpError>(id)? {
                drop_brick(tx, &b, true)?;
            }
        }
        if let Some(v) = tx.get::<VolumeRecord, OpError>(volume_id)? {
            drop_volume(tx, &v)?;
        }
        Ok(())
    }

    /// Store-side undo of an expansion: the new bricks and their space.
    pub(crate) fn release_bricks(&self, tx: &Tx<'_>, brick_ids: &[String]) -> Result<(), Abort<OpError>> {
        for id in brick_ids {
            if let Some(b) = tx.get::<BrickRecord, OpError>(id)? {
                drop_brick(tx, &b, true)?;
            }
        }
        Ok(())
    }

    /// Store-side undo of a delete that never reached gluster: visible again.
    pub(crate) fn unmark_volume(
        &self,
        tx: &Tx<'_>,
        volume_id: &str,
        brick_ids: &[String],
    ) -> Result<(), Abort<OpError>> {
        if let Some(mut v) = tx.get::<VolumeRecord, OpError>(volume_id)? {
            v.pending.clear();
            tx.index_put(TreeName::VisibleVolumes, volume_id, &v.cluster)?;
            tx.put(&v)?;
        }
        clear_pending(tx, "", brick_ids)
    }
}

impl VolumeRecord {
    fn blockinfo_has_no_block_volumes(&self) -> bool {
        self.blockinfo.block_volumes.is_empty()
    }
}

/// The path and LV of each brick of a snapshot clone, in gluster's order:
/// glusterd names the LVs after the clone's volume id and the brick's
/// position, so two bricks in one volume group never share a name.
fn clone_brick_places(gluster_id: &str, bricks: &[String]) -> Vec<(String, String)> {
    let prefix = gluster_id.replace('-', "");
    bricks
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let path = b.split_once(':').map(|(_, p)| p).unwrap_or(b).to_string();
            (path, format!("{prefix}_{i}"))
        })
        .collect()
}

/// Whether a volume is part of another operation: marked pending (being
/// deleted or cloned), a brick of it pending or retired (an eviction), or
/// bricks linked to it beyond `linked`, the links read before the
/// transaction (an expansion's new bricks, listed only at its commit).
fn volume_busy(tx: &Tx<'_>, volume: &VolumeRecord, linked: &[String]) -> Result<bool, Abort<OpError>> {
    if !volume.pending.is_empty()
        || tx.child_count::<OpError>(TreeName::VolumeBricks, &volume.id)? != linked.len() as u64
        || bricks_busy(tx, linked)?
    {
        return Ok(true);
    }
    bricks_busy(tx, &volume.brick_order)
}

/// Whether any of the bricks is missing, retired, or part of an operation
/// (an eviction marks only the brick it replaces).
fn bricks_busy(tx: &Tx<'_>, ids: &[String]) -> Result<bool, Abort<OpError>> {
    for id in ids {
        match tx.get::<BrickRecord, OpError>(id)? {
            Some(b) if b.pending.is_empty() && !b.retired => {}
            _ => return Ok(true),
        }
    }
    Ok(false)
}

fn marked_pending(bricks: Vec<BrickRecord>, op: &str) -> Vec<BrickRecord> {
    bricks
        .into_iter()
        .map(|b| BrickRecord {
            pending: op.to_string(),
            ..b
        })
        .collect()
}

/// Brick records for a plan, in gluster order.
fn new_bricks(volume: &VolumeRecord, plan: &Plan) -> Vec<BrickRecord> {
    plan.bricks()
        .map(|b| BrickRecord {
            path: brick_path(&b.device, &b.id),
            device: b.device.clone(),
            node: b.node.clone(),
            volume: volume.id.clone(),
            size: b.size_kib,
            tp_size: b.pool.tp,
            pool_metadata_size: b.pool.meta,
            lvm_thin_pool: format!("tp_{}", b.id),
            lvm_lv: format!("brick_{}", b.id),
            sub_type: if b.arbiter { 2 } else { 1 },
            charged: b.pool.total(),
            pending: volume.pending.clone(),
            retired: false,
            id: b.id.clone(),
        })
        .collect()
}

/// The volume record, its cluster link and its name, re-checking the name
/// and the per-cluster limit inside the transaction.
fn reserve_volume(tx: &Tx<'_>, volume: &VolumeRecord, max: Option<u64>) -> Result<(), Abort<OpError>> {
    let key = volume_name_key(&volume.cluster, &volume.name);
    if tx.index_get::<OpError>(TreeName::VolumeNames, &key)?.is_some() {
        return Err(Abort::User(OpError::Internal(format!(
            "Failed to allocate new volume: Volume name '{}' already in use",
            volume.name
        ))));
    }
    if let Some(max) = max {
        let count = tx.child_count::<OpError>(TreeName::ClusterVolumes, &volume.cluster)?;
        if count >= max {
            return Err(Abort::User(OpError::Internal(format!(
                "Failed to allocate new volume: Cluster has {count} volumes and limit is {max}"
            ))));
        }
    }
    tx.put(volume)?;
    tx.link(TreeName::ClusterVolumes, &volume.cluster, &volume.id)?;
    tx.index_put(TreeName::VolumeNames, &key, &volume.id)
}

/// Brick records, links and device space, re-checking every device.
fn reserve_bricks(tx: &Tx<'_>, volume_id: &str, bricks: &[BrickRecord]) -> Result<(), Abort<OpError>> {
    for b in bricks {
        let mut device = tx
            .get::<DeviceRecord, OpError>(&b.device)?
            .ok_or(Abort::User(OpError::Retry))?;
        // Clone bricks take no space and may sit on devices of any state.
        if b.charged > 0 && (device.state != EntityState::Online || device.space.free <= b.charged) {
            return Err(Abort::User(OpError::Retry));
        }
        device.space.free -= b.charged;
        device.space.used += b.charged;
        tx.put(&device)?;
        tx.put(b)?;
        tx.link(TreeName::DeviceBricks, &b.device, &b.id)?;
        tx.link(TreeName::VolumeBricks, volume_id, &b.id)?;
        let key = pool_key(b);
        let members = tx.index_get::<OpError>(TreeName::PoolBricks, &key)?.unwrap_or_default();
        let mut ids: Vec<&str> = members.split(',').filter(|m| !m.is_empty() && *m != b.id).collect();
        ids.push(&b.id);
        tx.index_put(TreeName::PoolBricks, &key, &ids.join(","))?;
    }
    Ok(())
}

/// Clears the pending marker of a volume (if `volume_id` is set) and bricks.
fn clear_pending(tx: &Tx<'_>, volume_id: &str, brick_ids: &[String]) -> Result<(), Abort<OpError>> {
    if !volume_id.is_empty() {
        if let Some(mut v) = tx.get::<VolumeRecord, OpError>(volume_id)? {
            v.pending.clear();
            tx.put(&v)?;
        }
    }
    for id in brick_ids {
        if let Some(mut b) = tx.get::<BrickRecord, OpError>(id)? {
            b.pending.clear();
            tx.put(&b)?;
        }
    }
    Ok(())
}

/// Removes a brick and settles its space: credited back when its pool went
/// away, else handed to a brick still sharing the pool (a clone's).
pub(crate) fn drop_brick(tx: &Tx<'_>, brick: &BrickRecord, reclaimed: bool) -> Result<(), Abort<OpError>> {
    tx.unlink(TreeName::DeviceBricks, &brick.device, &brick.id)?;
    tx.unlink(TreeName::VolumeBricks, &brick.volume, &brick.id)?;
    tx.remove::<BrickRecord, OpError>(&brick.id)?;
    let key = pool_key(brick);
    let members = tx.index_get::<OpError>(TreeName::PoolBricks, &key)?.unwrap_or_default();
    let rest: Vec<&str> = members.split(',').filter(|m| !m.is_empty() && *m != brick.id).collect();
    if rest.is_empty() {
        tx.index_remove(TreeName::PoolBricks, &key)?;
    } else {
        tx.index_put(TreeName::PoolBricks, &key, &rest.join(","))?;
    }
    if brick.charged == 0 {
        return Ok(());
    }
    let heir = if reclaimed { None } else { pool_sharer(tx, brick)? };
    match heir {
        Some(mut sharer) => {
            sharer.charged += brick.charged;
            tx.put(&sharer)
        }
        None => {
            if let Some(mut device) = tx.get::<DeviceRecord, OpError>(&brick.device)? {
                device.space.free += brick.charged;
                device.space.used = device.space.used.saturating_sub(brick.charged);
                tx.put(&device)?;
            }
            Ok(())
        }
    }
}

/// Another brick in the same thin pool, if any (a clone's).
fn pool_sharer(tx: &Tx<'_>, brick: &BrickRecord) -> Result<Option<BrickRecord>, Abort<OpError>> {
    let Some(members) = tx.index_get::<OpError>(TreeName::PoolBricks, &pool_key(brick))? else {
        return Ok(None);
    };
    for id in members.split(',').filter(|id| !id.is_empty() && *id != brick.id) {
        if let Some(b) = tx.get::<BrickRecord, OpError>(id)? {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

pub(crate) fn pool_key(brick: &BrickRecord) -> String {
    let pool = if brick.lvm_thin_pool.is_empty() {
        format!("tp_{}", brick.id)
    } else {
        brick.lvm_thin_pool.clone()
    };
    format!("{}/{pool}", brick.device)
}

fn drop_volume(tx: &Tx<'_>, volume: &VolumeRecord) -> Result<(), Abort<OpError>> {
    tx.unlink(TreeName::ClusterVolumes, &volume.cluster, &volume.id)?;
    let key = volume_name_key(&volume.cluster, &volume.name);
    if tx.index_get::<OpError>(TreeName::VolumeNames, &key)?.as_deref() == Some(volume.id.as_str()) {
        tx.index_remove(TreeName::VolumeNames, &key)?;
    }
    tx.index_remove(TreeName::VisibleVolumes, &volume.id)?;
    tx.remove::<VolumeRecord, OpError>(&volume.id)
}
