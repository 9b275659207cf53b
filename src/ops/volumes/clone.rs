//! Volume clone: a gluster snapshot of the source (`tmpsnap_<clone id>`),
//! cloned into a new volume and deleted. The clone's bricks are LVs gluster
//! makes in the source bricks' thin pools; where they are is learnt from
//! gluster at commit, or, for an undo, before the clone volume is deleted.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::executor::clone_snapshot_name;
use crate::ids::new_id;
use crate::store::records::{BrickRecord, ClusterRecord, QueueOutcome, VolumeRecord};
use crate::store::{Abort, TreeName, Tx};

use super::on_nodes::{destroy_bricks, destroy_gluster_volume};
use super::plan::{brick_spec, ineligible, limits};
use super::{
    bricks_by_id, gluster_host, in_use, marked_pending, release_volume, reserve_volume, unmark_volume, visible_volume,
    volume_busy,
};
use crate::ops::journal::JournalEntry;
use crate::ops::ledger;
use crate::ops::operation::{Change, ChangeKind, Direction, HeketiType, Operation};
use crate::ops::{Engine, OpError};

/// Node-side undo of a clone: the snapshot it was made from (left by a
/// crash in the middle), the gluster volume, then the clone's own brick
/// LVs and mounts, which gluster's volume delete leaves behind. The
/// store learns where those are only at commit, so they are read from
/// gluster and recorded (durably) before the volume, gluster's own
/// record of them, is deleted: an undo cut short can be run again.
async fn undo_clone(engine: &Engine, clone_id: &str, brick_ids: &[String]) -> Result<(), OpError> {
    let Some(clone) = engine.store.get::<VolumeRecord>(clone_id)? else {
        return Ok(());
    };
    let host = gluster_host(engine, &clone.cluster)?;
    engine
        .executor
        .snapshot_destroy(&host, &clone_snapshot_name(clone_id))
        .await?;
    if let Some(made) = engine.executor.volume_info(&host, &clone.name).await? {
        let placed = clone_brick_places(&made.id, &made.bricks);
        engine.store.transact(|tx| {
            for (id, (path, lv)) in brick_ids.iter().zip(&placed) {
                if let Some(mut b) = tx.get::<BrickRecord, OpError>(id)? {
                    b.path = path.clone();
                    b.lvm_lv = lv.clone();
                    tx.put(&b)?;
                }
            }
            Ok(())
        })?;
        engine.flush().await?;
    }
    destroy_gluster_volume(engine, &clone.cluster, &clone.name).await?;
    let mut bricks = Vec::new();
    for id in brick_ids {
        // A brick without a path was never made (gluster did not list it).
        bricks.extend(engine.store.get::<BrickRecord>(id)?.filter(|b| !b.path.is_empty()));
    }
    destroy_bricks(engine, &bricks, clone.gid).await.map(|_| ())
}

pub async fn clone_volume(engine: &Arc<Engine>, id: &str, name: &str) -> Result<String, OpError> {
    let source = visible_volume(engine, id)?;
    if source.block {
        return Err(OpError::Internal(format!(
            "Failed clone volume {id}: Cloning of block hosting volumes is not supported"
        )));
    }
    let permit = engine.throttle.acquire().await?;
    let clone_id = new_id();
    let clone_name = if name.is_empty() {
        format!("vol_{clone_id}")
    } else {
        name.to_string()
    };
    let cluster = engine
        .store
        .get::<ClusterRecord>(&source.cluster)?
        .ok_or_else(|| OpError::Internal(format!("cluster {} of volume {id} is gone", source.cluster)))?;
    if let Some(reason) = ineligible(engine, &cluster, &clone_name, false)? {
        return Err(OpError::Internal(format!("Failed clone volume {id}: {reason}")));
    }
    let source_bricks = bricks_by_id(engine, &source.brick_order)?;
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
    let entry = JournalEntry::new(CloneVolume {
        source_id: id.to_string(),
        clone_id: clone_id.clone(),
        bricks: clone_bricks.iter().map(|b| b.id.clone()).collect(),
    });
    let op = entry.id.clone();
    let clone = VolumeRecord {
        id: clone_id.clone(),
        name: clone_name,
        brick_order: clone_bricks.iter().map(|b| b.id.clone()).collect(),
        // Heketi's clone is a new entry: no clusters were asked for.
        requested_clusters: Vec::new(),
        pending: Some(op.clone()),
        ..source.clone()
    };
    let clone_bricks = marked_pending(clone_bricks, &op);
    let linked = engine.store.children(TreeName::VolumeBricks, id)?;
    engine
        .submit(entry, Some(permit), |tx| {
            let mut src = tx
                .get::<VolumeRecord, OpError>(id)?
                .ok_or(Abort::User(OpError::id_not_found()))?;
            if src.pending.is_some() {
                return Err(Abort::User(OpError::id_not_found()));
            }
            // The clone copies these bricks: none may be moving or being
            // added meanwhile.
            if src.brick_order != source.brick_order || volume_busy(tx, &src, &linked)? {
                return Err(Abort::User(in_use(&format!("Failed clone volume {id}"))));
            }
            // As in Heketi, the source answers 404 while it is being cloned
            // but stays listed.
            src.pending = Some(op.clone());
            tx.put(&src)?;
            reserve_volume(tx, &clone, limits(engine).max_volumes_per_cluster)?;
            ledger::add_bricks(tx, &clone_bricks)
        })
        .await
}

/// The clone and its bricks (sharing the source's pools, taking no space)
/// are stored pending; the source answers 404 until the clone is done.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CloneVolume {
    pub source_id: String,
    pub clone_id: String,
    pub bricks: Vec<String>,
}

#[async_trait]
impl Operation for CloneVolume {
    fn name(&self) -> &'static str {
        "clone-volume"
    }

    fn heketi_type(&self) -> Option<HeketiType> {
        Some(HeketiType::CloneVolume)
    }

    fn changes(&self) -> Vec<Change> {
        let mut out = vec![Change::new(&self.source_id, ChangeKind::CloneVolumeFrom)];
        out.extend(Change::each(&self.bricks, ChangeKind::AddBrick));
        out.push(Change::new(&self.clone_id, ChangeKind::CloneVolumeTo));
        out
    }

    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
        let (source_id, clone_id, brick_ids) =
            (self.source_id.as_str(), self.clone_id.as_str(), self.bricks.as_slice());
        let source = engine
            .store
            .get::<VolumeRecord>(source_id)?
            .ok_or_else(|| OpError::Internal(format!("volume {source_id} is missing from the store")))?;
        let clone = engine
            .store
            .get::<VolumeRecord>(clone_id)?
            .ok_or_else(|| OpError::Internal(format!("volume {clone_id} is missing from the store")))?;
        let host = gluster_host(engine, &source.cluster)?;
        let report = engine
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
        engine.commit(entry, QueueOutcome::SeeOther(format!("/volumes/{clone_id}")), |tx| {
            for (brick_id, (path, lv)) in brick_ids.iter().zip(&placed) {
                if let Some(mut b) = tx.get::<BrickRecord, OpError>(brick_id)? {
                    b.path = path.clone();
                    b.lvm_lv = lv.clone();
                    b.pending = None;
                    tx.put(&b)?;
                }
            }
            for v in [source_id, clone_id] {
                if let Some(mut rec) = tx.get::<VolumeRecord, OpError>(v)? {
                    rec.pending = None;
                    tx.index_put(TreeName::VisibleVolumes, v, &rec.cluster)?;
                    tx.put(&rec)?;
                }
            }
            Ok(())
        })
    }

    async fn direction(&self, _engine: &Engine) -> Result<Direction, OpError> {
        Ok(Direction::Back)
    }

    fn undo_after_failure(&self) -> bool {
        true
    }

    async fn undo(&self, engine: &Engine) -> Result<(), OpError> {
        undo_clone(engine, &self.clone_id, &self.bricks).await
    }

    fn release(&self, tx: &Tx<'_>, _entry: &JournalEntry) -> Result<(), Abort<OpError>> {
        release_volume(tx, &self.clone_id, &self.bricks)?;
        unmark_volume(tx, &self.source_id, &[])
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
