//! Volume create: Heketi's checks in its order, a plan, the volume and its
//! bricks stored pending with their space taken (the reservation), then
//! bricks, `volume create`, options and start on the nodes. A failed
//! attempt is undone and placed again, as Heketi does, up to
//! `volume_create_retries` times. Recovery takes it back.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ids::new_id;
use crate::placement;
use crate::placement::sizing::KIB_PER_GIB;
use crate::store::records::{
    BlockInfoRecord, ClusterRecord, DurabilityKind, DurabilityRecord, QueueOutcome, SnapshotRecord, VolumeRecord,
};
use crate::store::{Abort, TreeName, Tx};

use super::on_nodes::{create_bricks, gluster_spec, undo_volume};
use super::plan::{bad, cluster_slot, layout_of, limits, new_bricks, placement_request, plan_create, split_options};
use super::{bricks_by_id, clear_pending, hosts_of, release_volume, reserve_volume};
use crate::ops::journal::JournalEntry;
use crate::ops::ledger;
use crate::ops::operation::{Change, ChangeKind, Direction, HeketiType, Operation};
use crate::ops::{Engine, OpError};

/// How often a create or expand re-plans when the store changed under it.
const PLAN_ATTEMPTS: usize = 5;

/// The durability a client asked for, its type not yet checked.
#[derive(Debug, Clone, Default)]
pub struct DurabilityRequest {
    pub kind: String,
    pub replica: i64,
    pub data: i64,
    pub redundancy: i64,
}

/// A volume-create request after decoding, before Heketi's semantic checks.
#[derive(Debug, Clone, Default)]
pub struct VolumeCreate {
    pub size: i64,
    pub name: String,
    pub clusters: Vec<String>,
    pub durability: DurabilityRequest,
    pub gid: i64,
    pub options: Vec<String>,
    pub block: bool,
    pub snapshot: SnapshotRecord,
}

/// Heketi's semantic checks, in its order, and the record they yield.
pub(crate) fn prepare_create(
    engine: &Engine,
    req: &VolumeCreate,
) -> Result<(VolumeRecord, Vec<ClusterRecord>), OpError> {
    if req.gid < 0 {
        return Err(bad("Bad group id less than zero"));
    }
    if req.gid >= i64::from(i32::MAX) {
        return Err(bad("Bad group id equal or greater than 2**32"));
    }
    let wanted = &req.durability;
    let kind = match wanted.kind.as_str() {
        "" => DurabilityKind::None,
        text => DurabilityKind::parse(text).ok_or_else(|| bad("Unknown durability type"))?,
    };
    let durability = DurabilityRecord {
        kind,
        replica: wanted.replica,
        data: wanted.data,
        redundancy: wanted.redundancy,
    };
    if req.snapshot.enable && !(1.0..=100.0).contains(&req.snapshot.factor) {
        return Err(bad("Invalid snapshot factor"));
    }
    if durability.kind == DurabilityKind::Replicate && !(0..=3).contains(&durability.replica) {
        return Err(bad("Invalid replica value"));
    }
    if durability.kind == DurabilityKind::Disperse
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
    let all = engine.store.scan::<ClusterRecord>()?;
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
    let limits = limits(engine);
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
        requested_clusters: req.clusters.clone(),
        pending: None,
    };
    // Arbiter and tag settings are checked before anything is reserved.
    placement_request(&volume, size_gib, 0, limits).map_err(|e| match e {
        OpError::Internal(why) => OpError::Internal(format!("Failed to allocate new volume: {why}")),
        other => other,
    })?;
    Ok((volume, candidates))
}

/// Checks, plans, journals and starts a volume create; returns the queue id.
pub async fn create_volume(engine: &Arc<Engine>, req: VolumeCreate) -> Result<String, OpError> {
    let (mut volume, candidates) = prepare_create(engine, &req)?;
    for _ in 0..PLAN_ATTEMPTS {
        let permit = engine.throttle.acquire().await?;
        let (cluster, plan) = plan_create(engine, &volume, &candidates)?;
        volume.cluster = cluster;
        let mut entry = JournalEntry::new(CreateVolume {
            volume_id: volume.id.clone(),
            bricks: vec![],
        });
        volume.pending = Some(entry.id.clone());
        let bricks = new_bricks(&volume, &plan);
        volume.brick_order = bricks.iter().map(|b| b.id.clone()).collect();
        entry.action = CreateVolume {
            volume_id: volume.id.clone(),
            bricks: volume.brick_order.clone(),
        }
        .into();
        let max = limits(engine).max_volumes_per_cluster;
        let reserve = |tx: &Tx<'_>| {
            // Concurrent creates may have filled the cluster since the plan:
            // plan again, as another cluster may have room.
            if let Some(max) = max {
                if tx.child_count::<OpError>(TreeName::ClusterVolumes, &volume.cluster)? >= max {
                    return Err(Abort::User(OpError::Retry));
                }
            }
            reserve_volume(tx, &volume, max)?;
            ledger::add_bricks(tx, &bricks)
        };
        match engine.submit(entry, Some(permit), reserve).await {
            // A device filled up under the plan: plan again.
            Err(OpError::Retry) => continue,
            other => return other,
        }
    }
    Err(OpError::Retry)
}

/// The volume and its bricks are stored, marked pending, with their space
/// taken; they become visible at commit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CreateVolume {
    pub volume_id: String,
    pub bricks: Vec<String>,
}

#[async_trait]
impl Operation for CreateVolume {
    fn name(&self) -> &'static str {
        "create-volume"
    }

    fn heketi_type(&self) -> Option<HeketiType> {
        Some(HeketiType::CreateVolume)
    }

    fn changes(&self) -> Vec<Change> {
        let mut out: Vec<Change> = Change::each(&self.bricks, ChangeKind::AddBrick).collect();
        out.push(Change::new(&self.volume_id, ChangeKind::AddVolume));
        out
    }

    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
        let volume_id = self.volume_id.as_str();
        let mut brick_ids = self.bricks.clone();
        let mut retries_left = limits(engine).volume_create_retries;
        loop {
            let volume = engine
                .store
                .get::<VolumeRecord>(volume_id)?
                .ok_or_else(|| OpError::Internal(format!("volume {volume_id} is missing from the store")))?;
            let error = match make_volume(engine, &volume, &brick_ids).await {
                Ok(()) => break,
                Err(e) => e,
            };
            if retries_left == 0 {
                return Err(error);
            }
            retries_left -= 1;
            tracing::warn!(volume = volume_id, error = %error, retries_left, "volume create failed; retrying with a new placement");
            // As Heketi does: undo, place again, try again.
            undo_volume(engine, volume_id, &brick_ids)
                .await
                .map_err(|_| error.clone())?;
            brick_ids = replace_bricks(engine, entry, &volume, &brick_ids).map_err(|_| error.clone())?;
            // Recovery must know the new bricks before any of them exists.
            engine.flush().await?;
        }
        let cluster = engine
            .store
            .get::<VolumeRecord>(volume_id)?
            .map(|v| v.cluster)
            .unwrap_or_default();
        engine.commit(entry, QueueOutcome::SeeOther(format!("/volumes/{volume_id}")), |tx| {
            clear_pending(tx, Some(volume_id), &brick_ids)?;
            tx.index_put(TreeName::VisibleVolumes, volume_id, &cluster)
        })
    }

    async fn direction(&self, _engine: &Engine) -> Result<Direction, OpError> {
        Ok(Direction::Back)
    }

    fn undo_after_failure(&self) -> bool {
        true
    }

    async fn undo(&self, engine: &Engine) -> Result<(), OpError> {
        undo_volume(engine, &self.volume_id, &self.bricks).await
    }

    fn release(&self, tx: &Tx<'_>, _entry: &JournalEntry) -> Result<(), Abort<OpError>> {
        release_volume(tx, &self.volume_id, &self.bricks)
    }
}

/// Bricks, then the gluster volume.
pub(crate) async fn make_volume(engine: &Engine, volume: &VolumeRecord, brick_ids: &[String]) -> Result<(), OpError> {
    let bricks = bricks_by_id(engine, brick_ids)?;
    create_bricks(engine, &bricks, volume.gid).await?;
    let spec = gluster_spec(engine, volume, &bricks)?;
    let (host, _) = hosts_of(engine, &bricks[0].node)?;
    Ok(engine.executor.volume_create(&host, &spec).await?)
}

/// Swaps a failed attempt's bricks for a fresh placement in the same
/// cluster: the old ones are released first (so their space counts),
/// the journal entry always names the bricks that exist.
fn replace_bricks(
    engine: &Engine,
    entry: &JournalEntry,
    volume: &VolumeRecord,
    old: &[String],
) -> Result<Vec<String>, OpError> {
    let set_bricks = |tx: &Tx<'_>, ids: &[String]| -> Result<(), Abort<OpError>> {
        let mut stored = tx
            .get::<JournalEntry, OpError>(&entry.id)?
            .ok_or(Abort::User(OpError::Conflict("operation is no longer pending".into())))?;
        stored.action = CreateVolume {
            volume_id: volume.id.clone(),
            bricks: ids.to_vec(),
        }
        .into();
        tx.put(&stored)?;
        if let Some(mut v) = tx.get::<VolumeRecord, OpError>(&volume.id)? {
            v.brick_order = ids.to_vec();
            tx.put(&v)?;
        }
        Ok(())
    };
    engine.store.transact(|tx| {
        ledger::drop_bricks(tx, old)?;
        set_bricks(tx, &[])
    })?;
    let cluster = engine
        .store
        .get::<ClusterRecord>(&volume.cluster)?
        .ok_or_else(|| OpError::Internal(format!("cluster {} is gone", volume.cluster)))?;
    let request = placement_request(volume, volume.size_gib, 0, limits(engine))?;
    let plan = placement::place_in_cluster(&cluster_slot(engine, &cluster)?, &request, &mut new_id)
        .map_err(|r| OpError::Internal(format!("Failed to allocate new volume: {r}")))?;
    let bricks = new_bricks(volume, &plan);
    let ids: Vec<String> = bricks.iter().map(|b| b.id.clone()).collect();
    engine.store.transact(|tx| {
        ledger::add_bricks(tx, &bricks)?;
        set_bricks(tx, &ids)
    })?;
    Ok(ids)
}
