//! Volume delete: the volume and its bricks marked pending and hidden,
//! then `volume stop/delete` and the bricks on the nodes. The gluster
//! volume gone is the point of no return, read from gluster when the
//! delete fails: before it the delete is undone, after it it is finished.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::store::records::{BrickRecord, QueueOutcome, VolumeRecord};
use crate::store::{Abort, TreeName, Tx};

use super::on_nodes::{destroy_bricks, destroy_gluster_volume, gluster_has_volume};
use super::{drop_volume, gluster_host, in_use, unmark_volume, visible_volume, DB_VOLUME};
use crate::ops::journal::{JournalEntry, JournalStatus};
use crate::ops::ledger;
use crate::ops::operation::{Change, ChangeKind, Direction, HeketiType, Operation};
use crate::ops::{Engine, OpError};

pub async fn delete_volume(engine: &Arc<Engine>, id: &str) -> Result<String, OpError> {
    let volume = visible_volume(engine, id)?;
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
    let permit = engine.throttle.acquire().await?;
    let bricks = engine.store.children(TreeName::VolumeBricks, id)?;
    let entry = JournalEntry::new(DeleteVolume {
        volume_id: id.to_string(),
        bricks: bricks.clone(),
    });
    let op = entry.id.clone();
    engine
        .submit(entry, Some(permit), |tx| {
            let mut v = tx
                .get::<VolumeRecord, OpError>(id)?
                .ok_or(Abort::User(OpError::id_not_found()))?;
            if v.pending.is_some() {
                return Err(Abort::User(in_use("Failed to set up volume delete")));
            }
            if tx.child_count::<OpError>(TreeName::VolumeBricks, id)? != bricks.len() as u64 {
                return Err(Abort::User(in_use("Failed to set up volume delete")));
            }
            v.pending = Some(op.clone());
            tx.put(&v)?;
            for b in &bricks {
                let mut brick = tx
                    .get::<BrickRecord, OpError>(b)?
                    .ok_or(Abort::User(in_use("Failed to set up volume delete")))?;
                if brick.pending.is_some() {
                    return Err(Abort::User(in_use("Failed to set up volume delete")));
                }
                brick.pending = Some(op.clone());
                tx.put(&brick)?;
            }
            tx.index_remove(TreeName::VisibleVolumes, id)
        })
        .await
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DeleteVolume {
    pub volume_id: String,
    pub bricks: Vec<String>,
}

#[async_trait]
impl Operation for DeleteVolume {
    fn name(&self) -> &'static str {
        "delete-volume"
    }

    fn heketi_type(&self) -> Option<HeketiType> {
        Some(HeketiType::DeleteVolume)
    }

    fn changes(&self) -> Vec<Change> {
        let mut out: Vec<Change> = Change::each(&self.bricks, ChangeKind::DeleteBrick).collect();
        out.push(Change::new(&self.volume_id, ChangeKind::DeleteVolume));
        out
    }

    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
        let (volume_id, brick_ids) = (self.volume_id.as_str(), self.bricks.as_slice());
        let Some(volume) = engine.store.get::<VolumeRecord>(volume_id)? else {
            return engine.commit(entry, QueueOutcome::NoContent, |_| Ok(()));
        };
        if let Err(error) = destroy_gluster_volume(engine, &volume.cluster, &volume.name).await {
            // The gluster volume gone is the point of no return, and only
            // gluster can say whether it is (a delete that ran before a
            // crash, a lost answer): still there, the delete is undone;
            // gone, it goes on; gluster silent, it waits for a cleanup.
            let fresh = entry.status == JournalStatus::New;
            match gluster_has_volume(engine, &volume).await {
                Ok(true) => return Err(error),
                // No node to run gluster on, in this run: nothing was deleted.
                Err(_) if fresh && gluster_host(engine, &volume.cluster).is_err() => return Err(error),
                Ok(false) => {
                    tracing::warn!(volume = %volume.name, error = %error, "volume delete failed, but gluster no longer has the volume");
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
            .filter_map(|id| engine.store.get::<BrickRecord>(id).ok().flatten())
            .collect();
        let reclaimed = destroy_bricks(engine, &bricks, volume.gid).await.map_err(|e| {
            OpError::Incomplete(format!(
                "Volume {} deleted, but removing its bricks failed: {e}",
                volume.name
            ))
        })?;
        engine.commit(entry, QueueOutcome::NoContent, |tx| {
            for id in brick_ids {
                // The stored copy: a concurrent delete may have moved a charge to it.
                if let Some(b) = tx.get::<BrickRecord, OpError>(id)? {
                    ledger::drop_brick(tx, &b, reclaimed.get(id).copied().unwrap_or(true))?;
                }
            }
            drop_volume(tx, &volume)
        })
    }

    /// Forward: a delete's steps are idempotent, and its point of no
    /// return is read from gluster as it runs.
    async fn direction(&self, _engine: &Engine) -> Result<Direction, OpError> {
        Ok(Direction::Forward)
    }

    fn release(&self, tx: &Tx<'_>, _entry: &JournalEntry) -> Result<(), Abort<OpError>> {
        unmark_volume(tx, &self.volume_id, &self.bricks)
    }

    /// Gluster has dropped the volume: it is gone for the client.
    fn answer_when_stuck(&self, _why: &str) -> Option<QueueOutcome> {
        Some(QueueOutcome::NoContent)
    }
}
