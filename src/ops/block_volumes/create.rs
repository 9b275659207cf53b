//! Block volume create, in Heketi's order: the requested (or all) clusters
//! that allow block volumes; an existing hosting volume that is visible,
//! unrestricted, has the free size and no block volume of the same name
//! (one at random); else a new hosting volume, if the block volume fits in
//! one (the 98 % rule), none is being made right now (429) and automatic
//! creation is on. The block volume (and a new hosting volume with its
//! bricks) is stored pending with the hosting volume's free size taken;
//! on the nodes the hosting volume is made first, then `gluster-block
//! create` from hosts whose glusterd answers. Recovery takes it back.

use std::sync::Arc;

use async_trait::async_trait;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::executor::{BlockAuth, BlockVolumeSpec};
use crate::ids::new_id;
use crate::store::records::{
    BlockVolumeRecord, BrickRecord, ClusterRecord, EntityState, NodeRecord, QueueOutcome, VolumeRecord,
};
use crate::store::{Abort, TreeName, Tx};

use super::{block_exec_host, block_volume, change_free_size, hosting_volume, remove_block_volume};
use crate::ops::journal::{JournalEntry, JournalStatus};
use crate::ops::ledger;
use crate::ops::operation::{Change, ChangeKind, Direction, HeketiType, Operation};
use crate::ops::volumes::{
    clear_pending, make_volume, new_bricks, plan_create_for, prepare_create, release_volume, reserve_volume,
    undo_volume, DurabilityRequest, VolumeCreate,
};
use crate::ops::{Engine, OpError};

/// How often a create plans again when the store changed under it.
const PLAN_ATTEMPTS: usize = 5;

/// The prefix of every refusal of a block volume create (Heketi's).
const ALLOCATE: &str = "Failed to allocate new block volume";

/// Heketi's share of a hosting volume that block volumes may use.
pub(crate) fn usable_hosting_size(size_gib: u64) -> u64 {
    size_gib * 98 / 100
}

/// A block volume create request after its fields were validated.
#[derive(Debug, Clone, Default)]
pub struct BlockVolumeCreate {
    pub size_gib: u64,
    /// `None`: `blockvol_<id>`.
    pub name: Option<String>,
    pub clusters: Vec<String>,
    /// Portals wanted; `None` (or more than the hosting volume has) means
    /// every host of the hosting volume.
    pub hacount: Option<u64>,
    pub auth: bool,
}

/// Where the block volume goes.
enum Hosting {
    Existing(VolumeRecord),
    /// A hosting volume made for it, with its bricks.
    New(VolumeRecord, Vec<BrickRecord>),
}

/// Checks, plans, journals and starts a block volume create; returns the
/// queue id.
pub async fn create_block_volume(engine: &Arc<Engine>, req: BlockVolumeCreate) -> Result<String, OpError> {
    let all = engine.store.scan::<ClusterRecord>()?;
    if all.is_empty() {
        return Err(OpError::BadRequest("No clusters configured".into()));
    }
    for id in &req.clusters {
        if !all.iter().any(|c| &c.id == id) {
            return Err(OpError::BadRequest(format!("Cluster id {id} not found")));
        }
    }
    let id = new_id();
    let mut block = BlockVolumeRecord {
        name: req.name.clone().unwrap_or_else(|| format!("blockvol_{id}")),
        id,
        size_gib: req.size_gib,
        hacount: req.hacount.unwrap_or(0) as i64,
        auth: req.auth,
        requested_clusters: req.clusters.clone(),
        ..BlockVolumeRecord::default()
    };
    let permit = engine.throttle.acquire().await?;
    // One block create plans at a time, so two never both start a hosting
    // volume (Heketi's Build ran under the database's write lock).
    let _planning = PLANNING.lock().await;
    let candidates = if req.clusters.is_empty() {
        all
    } else {
        all.into_iter().filter(|c| req.clusters.contains(&c.id)).collect()
    };
    let mut permit = Some(permit);
    for _ in 0..PLAN_ATTEMPTS {
        let hosting = choose_hosting(engine, &block, &candidates)?;
        let (hosting_id, new_bricks) = match &hosting {
            Hosting::Existing(v) => (v.id.clone(), None),
            Hosting::New(v, bricks) => (v.id.clone(), Some(bricks.iter().map(|b| b.id.clone()).collect())),
        };
        let entry = JournalEntry::new(CreateBlockVolume {
            block_volume_id: block.id.clone(),
            hosting_volume_id: hosting_id.clone(),
            new_hosting_bricks: new_bricks,
        });
        let entry_id = entry.id.clone();
        block.pending = Some(entry_id.clone());
        block.hosting_volume = hosting_id;
        let max = engine.settings.limits.max_volumes_per_cluster;
        let reserve = |tx: &Tx<'_>| {
            let mut hosting_volume = match &hosting {
                Hosting::Existing(v) => {
                    let stored = tx
                        .get::<VolumeRecord, OpError>(&v.id)?
                        .ok_or(Abort::User(OpError::Retry))?;
                    // Another operation got there first: plan again.
                    if !can_host_now(tx, &stored, &block)? {
                        return Err(Abort::User(OpError::Retry));
                    }
                    stored
                }
                Hosting::New(v, bricks) => {
                    let v = VolumeRecord {
                        pending: Some(entry_id.clone()),
                        ..v.clone()
                    };
                    reserve_volume(tx, &v, max)?;
                    let bricks: Vec<BrickRecord> = bricks
                        .iter()
                        .map(|b| BrickRecord {
                            pending: Some(entry_id.clone()),
                            ..b.clone()
                        })
                        .collect();
                    ledger::add_bricks(tx, &bricks)?;
                    v
                }
            };
            let block = BlockVolumeRecord {
                cluster: hosting_volume.cluster.clone(),
                ..block.clone()
            };
            change_free_size(&mut hosting_volume, -(block.size_gib as i64))?;
            hosting_volume.blockinfo.block_volumes.push(block.id.clone());
            tx.put(&hosting_volume)?;
            tx.put(&block)?;
            tx.link(TreeName::ClusterBlockVolumes, &block.cluster, &block.id)
        };
        match engine.submit(entry, permit.take(), reserve).await {
            Err(OpError::Retry) => {
                permit = Some(engine.throttle.acquire().await?);
                continue;
            }
            other => return other,
        }
    }
    Err(OpError::Retry)
}

static PLANNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn allocate_error(why: impl std::fmt::Display) -> OpError {
    OpError::Internal(format!("{ALLOCATE}: {why}"))
}

/// Heketi's choice of hosting volume, or of a new one.
fn choose_hosting(
    engine: &Engine,
    block: &BlockVolumeRecord,
    candidates: &[ClusterRecord],
) -> Result<Hosting, OpError> {
    let clusters = clusters_for(engine, candidates, false)?;
    let mut fits = Vec::new();
    for cluster in &clusters {
        for id in engine.store.children(TreeName::ClusterVolumes, &cluster.id)? {
            let Some(volume) = engine.store.get::<VolumeRecord>(&id)? else {
                continue;
            };
            if volume.block && volume.pending.is_none() && can_host(engine, &volume, block)? {
                fits.push(volume);
            }
        }
    }
    if let Some(chosen) = fits.choose(&mut rand::thread_rng()) {
        return Ok(Hosting::Existing(chosen.clone()));
    }
    let clusters = clusters_for(engine, &clusters, true)?;
    let limits = &engine.settings.limits;
    let hosting_size = limits.block_hosting_volume_size;
    let usable = usable_hosting_size(hosting_size);
    if block.size_gib > usable {
        return Err(allocate_error(format!(
            "The size configured for automatic creation of block hosting volumes ({hosting_size}) is too small to host the requested block volume of size {}. The available size on this block hosting volume, minus overhead, is {usable}. Please create a sufficiently large block hosting volume manually.",
            block.size_gib
        )));
    }
    if hosting_volume_in_progress(engine)? {
        tracing::warn!("temporarily rejecting block volume request: pending block-hosting-volume found");
        return Err(OpError::Busy);
    }
    if !limits.auto_create_block_hosting_volume {
        return Err(allocate_error(
            "Block Hosting Volume Creation is disabled. Create a Block hosting volume and try again.",
        ));
    }
    let request = VolumeCreate {
        size: hosting_size as i64,
        clusters: clusters.iter().map(|c| c.id.clone()).collect(),
        durability: DurabilityRequest {
            kind: "replicate".into(),
            replica: 3,
            ..DurabilityRequest::default()
        },
        block: true,
        ..VolumeCreate::default()
    };
    let (mut volume, clusters) = prepare_create(engine, &request).map_err(|e| match e {
        OpError::BadRequest(why) | OpError::Internal(why) => allocate_error(why),
        other => other,
    })?;
    let (cluster, plan) = plan_create_for(engine, &volume, &clusters, ALLOCATE)?;
    volume.cluster = cluster;
    let bricks = new_bricks(&volume, &plan);
    volume.brick_order = bricks.iter().map(|b| b.id.clone()).collect();
    Ok(Hosting::New(volume, bricks))
}

/// Heketi's `eligibleClusters` for block volumes: clusters that allow
/// them and, with `creating`, have room for another volume.
fn clusters_for(engine: &Engine, clusters: &[ClusterRecord], creating: bool) -> Result<Vec<ClusterRecord>, OpError> {
    if clusters.is_empty() {
        return Err(allocate_error("No clusters configured"));
    }
    let max = engine.settings.limits.max_volumes_per_cluster;
    let mut fit = Vec::new();
    let mut refused: Vec<(String, String)> = Vec::new();
    for c in clusters {
        if !c.block {
            let why = if c.file {
                "Cluster does not support requested volume type"
            } else {
                "Cluster has disabled all volume types"
            };
            refused.push((c.id.clone(), why.to_string()));
            continue;
        }
        if let (true, Some(max)) = (creating, max) {
            let count = engine.store.child_count(TreeName::ClusterVolumes, &c.id)?;
            if count >= max {
                refused.push((c.id.clone(), format!("Cluster has {count} volumes and limit is {max}")));
                continue;
            }
        }
        fit.push(c.clone());
    }
    if !fit.is_empty() {
        return Ok(fit);
    }
    Err(allocate_error(match refused.as_slice() {
        [] => "No space".to_string(),
        [(_, only)] => only.clone(),
        many => {
            let mut lines = vec!["No eligible cluster for volume".to_string()];
            lines.extend(many.iter().map(|(c, why)| format!("Cluster {c}: {why}")));
            lines.join("\n")
        }
    }))
}

/// Heketi's `canHostBlockVolume`: unrestricted, enough free size, no
/// block volume of the same name.
fn can_host(engine: &Engine, volume: &VolumeRecord, block: &BlockVolumeRecord) -> Result<bool, OpError> {
    if !volume.blockinfo.restriction.is_empty() || volume.blockinfo.free_gib < block.size_gib as i64 {
        return Ok(false);
    }
    for id in &volume.blockinfo.block_volumes {
        if let Some(other) = engine.store.get::<BlockVolumeRecord>(id)? {
            if other.name == block.name {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// `can_host` again inside the reserving transaction, with the volume's
/// pending marker.
fn can_host_now(tx: &Tx<'_>, volume: &VolumeRecord, block: &BlockVolumeRecord) -> Result<bool, Abort<OpError>> {
    if volume.pending.is_some()
        || !volume.blockinfo.restriction.is_empty()
        || volume.blockinfo.free_gib < block.size_gib as i64
    {
        return Ok(false);
    }
    for id in &volume.blockinfo.block_volumes {
        if let Some(other) = tx.get::<BlockVolumeRecord, OpError>(id)? {
            if other.name == block.name {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Heketi's `hasPendingBlockHostingVolume`: a block-hosting volume in an
/// operation that is running now (not one left stale or failed).
fn hosting_volume_in_progress(engine: &Engine) -> Result<bool, OpError> {
    for volume in engine.store.scan::<VolumeRecord>()? {
        let Some(op) = volume.pending.as_deref().filter(|_| volume.block) else {
            continue;
        };
        if let Some(entry) = engine.store.get::<JournalEntry>(op)? {
            if entry.status == JournalStatus::New {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The block volume is stored pending with the hosting volume's free size
/// taken; a hosting volume made for it is stored pending with its bricks
/// and their space. All become visible at commit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CreateBlockVolume {
    pub block_volume_id: String,
    pub hosting_volume_id: String,
    /// The hosting volume's bricks, when this operation makes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_hosting_bricks: Option<Vec<String>>,
}

#[async_trait]
impl Operation for CreateBlockVolume {
    fn name(&self) -> &'static str {
        "create-block-volume"
    }

    fn heketi_type(&self) -> Option<HeketiType> {
        Some(HeketiType::CreateBlockVolume)
    }

    fn changes(&self) -> Vec<Change> {
        let mut out = Vec::new();
        if let Some(bricks) = &self.new_hosting_bricks {
            out.extend(Change::each(bricks, ChangeKind::AddBrick));
            out.push(Change::new(&self.hosting_volume_id, ChangeKind::AddVolume));
        }
        out.push(Change::new(&self.block_volume_id, ChangeKind::AddBlockVolume));
        out
    }

    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
        let block = block_volume(engine, &self.block_volume_id)?;
        let hosting = hosting_volume(engine, &self.hosting_volume_id)?;
        if let Some(bricks) = &self.new_hosting_bricks {
            make_volume(engine, &hosting, bricks).await?;
        }
        let hosts = choose_hosts(engine, &hosting.cluster, block.hacount).await?;
        let exec_host = block_exec_host(engine, &hosting.cluster).await?;
        let spec = BlockVolumeSpec {
            hosting_volume: hosting.name.clone(),
            name: block.name.clone(),
            hosts: hosts.clone(),
            auth: BlockAuth::from_enabled(block.auth),
            size_gib: block.size_gib,
        };
        let created = engine.executor.block_volume_create(&exec_host, &spec).await?;
        let outcome = QueueOutcome::SeeOther(format!("/blockvolumes/{}", block.id));
        engine.commit(entry, outcome, |tx| {
            if let Some(bricks) = &self.new_hosting_bricks {
                clear_pending(tx, Some(&hosting.id), bricks)?;
                tx.index_put(TreeName::VisibleVolumes, &hosting.id, &hosting.cluster)?;
            }
            let mut stored = tx
                .get::<BlockVolumeRecord, OpError>(&block.id)?
                .ok_or(Abort::User(super::missing("block volume", &block.id)))?;
            stored.pending = None;
            stored.usable_size_gib = stored.size_gib;
            stored.hacount = hosts.len() as i64;
            stored.hosts = hosts.clone();
            stored.iqn = created.iqn.clone();
            stored.lun = 0;
            stored.username = created.username.clone();
            stored.password = created.password.clone();
            tx.put(&stored)
        })
    }

    /// Back: the block volume's credentials live only in gluster-block's
    /// answer, so one a crash cut off is deleted and the request failed.
    async fn direction(&self, _engine: &Engine) -> Result<Direction, OpError> {
        Ok(Direction::Back)
    }

    fn undo_after_failure(&self) -> bool {
        true
    }

    async fn undo(&self, engine: &Engine) -> Result<(), OpError> {
        let block = engine.store.get::<BlockVolumeRecord>(&self.block_volume_id)?;
        let hosting = engine.store.get::<VolumeRecord>(&self.hosting_volume_id)?;
        if let (Some(block), Some(hosting)) = (&block, &hosting) {
            let host = block_exec_host(engine, &hosting.cluster).await?;
            engine
                .executor
                .block_volume_delete(&host, &hosting.name, &block.name)
                .await?;
        }
        if let Some(bricks) = &self.new_hosting_bricks {
            undo_volume(engine, &self.hosting_volume_id, bricks).await?;
        }
        Ok(())
    }

    fn release(&self, tx: &Tx<'_>, _entry: &JournalEntry) -> Result<(), Abort<OpError>> {
        if let Some(block) = tx.get::<BlockVolumeRecord, OpError>(&self.block_volume_id)? {
            // A hosting volume made for it goes as a whole.
            remove_block_volume(tx, &block, self.new_hosting_bricks.is_none())?;
        }
        if let Some(bricks) = &self.new_hosting_bricks {
            release_volume(tx, &self.hosting_volume_id, bricks)?;
        }
        Ok(())
    }
}

/// Heketi's choice of portals: with `1 <= hacount <=` the cluster's hosts,
/// that many hosts in random order whose glusterd answers (nodes offline
/// or found down by the health monitor are not asked); otherwise every
/// host of the cluster.
async fn choose_hosts(engine: &Engine, cluster: &str, hacount: i64) -> Result<Vec<String>, OpError> {
    let mut nodes = Vec::new();
    for id in engine.store.children(TreeName::ClusterNodes, cluster)? {
        if let Some(node) = engine.store.get::<NodeRecord>(&id)? {
            nodes.push(node);
        }
    }
    let wanted = usize::try_from(hacount).unwrap_or(0);
    if wanted == 0 || wanted > nodes.len() {
        return Ok(nodes.iter().map(|n| n.storage_host().to_string()).collect());
    }
    nodes.shuffle(&mut rand::thread_rng());
    let mut hosts = Vec::with_capacity(wanted);
    for node in &nodes {
        if node.state != EntityState::Online || engine.health.is_down(&node.id) {
            continue;
        }
        if engine.executor.glusterd_check(node.manage_host()).await.is_ok() {
            hosts.push(node.storage_host().to_string());
            if hosts.len() == wanted {
                return Ok(hosts);
            }
        }
    }
    Err(OpError::Internal("insufficient block hosts online".into()))
}
