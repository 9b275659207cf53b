//! Volume expansion: new bricks placed in the volume's cluster, stored
//! pending with their space taken, created, then `add-brick` and a
//! rebalance. `add-brick` is the point of no return, read from gluster's
//! brick list: before it the expansion is undone like a create; after it,
//! finished.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ids::new_id;
use crate::placement::sizing::{SizingEnd, KIB_PER_GIB};
use crate::placement::{self, Refusal};
use crate::store::records::{ClusterRecord, QueueOutcome, VolumeRecord};
use crate::store::{Abort, TreeName, Tx};

use super::on_nodes::{create_bricks, gluster_spec, new_bricks_in_gluster, undo_bricks};
use super::plan::{bad, cluster_slot, limits, new_bricks, placement_request};
use super::{bricks_by_id, clear_pending, hosts_of, in_use, marked_pending, visible_volume, volume_busy};
use crate::ops::journal::{JournalEntry, JournalStatus};
use crate::ops::ledger;
use crate::ops::operation::{Change, ChangeKind, Direction, HeketiType, Operation};
use crate::ops::{Engine, OpError};

/// Heketi's `ErrMaxBricks` text.
const MAX_BRICKS_REACHED: &str = "Maximum number of bricks reached.";

pub async fn expand_volume(engine: &Arc<Engine>, id: &str, expand_gib: u64) -> Result<String, OpError> {
    if expand_gib.checked_mul(KIB_PER_GIB).is_none() {
        return Err(bad("Invalid volume size"));
    }
    visible_volume(engine, id)?;
    let permit = engine.throttle.acquire().await?;
    let volume = visible_volume(engine, id)?;
    let cluster = engine
        .store
        .get::<ClusterRecord>(&volume.cluster)?
        .ok_or_else(|| OpError::Internal(format!("cluster {} of volume {id} is gone", volume.cluster)))?;
    let existing = engine.store.children(TreeName::VolumeBricks, id)?.len() as u64;
    let request = placement_request(&volume, expand_gib, existing, limits(engine))?;
    let slot = cluster_slot(engine, &cluster)?;
    let plan = placement::place_in_cluster(&slot, &request, &mut new_id).map_err(|r| {
        OpError::Internal(format!(
            "Failed to allocate volume expansion: {}",
            match r {
                // Heketi stops at the first sizing past the limit with its
                // own error, whatever the free space.
                Refusal::NoSpace(_) if placement::sizing_end(&request) == SizingEnd::MaximumBricks => {
                    MAX_BRICKS_REACHED.to_string()
                }
                other => other.to_string(),
            }
        ))
    })?;
    let bricks = new_bricks(&volume, &plan);
    let brick_ids: Vec<String> = bricks.iter().map(|b| b.id.clone()).collect();
    let entry = JournalEntry::new(ExpandVolume {
        volume_id: id.to_string(),
        bricks: brick_ids,
        delta_gib: expand_gib,
    });
    let op = entry.id.clone();
    let bricks = marked_pending(bricks, &op);
    let linked = engine.store.children(TreeName::VolumeBricks, id)?;
    engine
        .submit(entry, Some(permit), |tx| {
            let v = tx
                .get::<VolumeRecord, OpError>(id)?
                .ok_or(Abort::User(OpError::id_not_found()))?;
            if volume_busy(tx, &v, &linked)? {
                return Err(Abort::User(in_use("Failed to allocate volume expansion")));
            }
            ledger::add_bricks(tx, &bricks)
        })
        .await
}

/// Whether gluster holds any of an expansion's new bricks.
async fn expansion_reached_gluster(engine: &Engine, volume_id: &str, brick_ids: &[String]) -> Result<bool, OpError> {
    let Some(volume) = engine.store.get::<VolumeRecord>(volume_id)? else {
        return Ok(false);
    };
    let bricks = bricks_by_id(engine, brick_ids)?;
    Ok(new_bricks_in_gluster(engine, &volume, &bricks).await? > 0)
}

/// New bricks are stored, pending, with their space taken; they join the
/// volume's brick order at commit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ExpandVolume {
    pub volume_id: String,
    pub bricks: Vec<String>,
    pub delta_gib: u64,
}

#[async_trait]
impl Operation for ExpandVolume {
    fn name(&self) -> &'static str {
        "expand-volume"
    }

    fn heketi_type(&self) -> Option<HeketiType> {
        Some(HeketiType::ExpandVolume)
    }

    fn changes(&self) -> Vec<Change> {
        let mut out: Vec<Change> = Change::each(&self.bricks, ChangeKind::AddBrick).collect();
        out.push(Change {
            delta: Some(self.delta_gib),
            ..Change::new(&self.volume_id, ChangeKind::ExpandVolume)
        });
        out
    }

    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
        let (volume_id, brick_ids, delta_gib) = (self.volume_id.as_str(), self.bricks.as_slice(), self.delta_gib);
        let volume = engine
            .store
            .get::<VolumeRecord>(volume_id)?
            .ok_or_else(|| OpError::Internal(format!("volume {volume_id} is missing from the store")))?;
        let bricks = bricks_by_id(engine, brick_ids)?;
        // A first run that fails creating bricks never reached add-brick;
        // a resumed one runs forward because gluster already has some.
        let resumed = entry.status != JournalStatus::New;
        let created = create_bricks(engine, &bricks, volume.gid).await;
        if created.is_err() && !resumed {
            return created;
        }
        let expanded = async {
            created?;
            let spec = gluster_spec(engine, &volume, &bricks)?;
            let (host, _) = hosts_of(engine, &bricks[0].node)?;
            Ok::<(), OpError>(engine.executor.volume_expand(&host, &spec).await?)
        }
        .await;
        if let Err(error) = expanded {
            // `add-brick` is the point of no return, and only gluster knows
            // whether it happened (a lost session, a commit failing on one
            // peer): before it, the expansion is undone like a create; past
            // it, the bricks are gluster's and it can only be finished.
            match new_bricks_in_gluster(engine, &volume, &bricks).await {
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
        engine.commit(entry, QueueOutcome::SeeOther(format!("/volumes/{volume_id}")), |tx| {
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
            clear_pending(tx, None, brick_ids)
        })
    }

    /// Forward once gluster holds any of the new bricks, back otherwise.
    async fn direction(&self, engine: &Engine) -> Result<Direction, OpError> {
        Ok(
            if expansion_reached_gluster(engine, &self.volume_id, &self.bricks).await? {
                Direction::Forward
            } else {
                Direction::Back
            },
        )
    }

    fn undo_after_failure(&self) -> bool {
        true
    }

    async fn undo(&self, engine: &Engine) -> Result<(), OpError> {
        undo_bricks(engine, &self.volume_id, &self.bricks).await
    }

    fn release(&self, tx: &Tx<'_>, _entry: &JournalEntry) -> Result<(), Abort<OpError>> {
        ledger::drop_bricks(tx, &self.bricks)
    }

    /// Gluster has begun taking the bricks: the poll stays pending until a
    /// cleanup commits it.
    fn answer_when_stuck(&self, _why: &str) -> Option<QueueOutcome> {
        None
    }
}
