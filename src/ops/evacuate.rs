//! Evacuation: a device or node set to `failed` from `offline` while it
//! holds bricks has every brick replaced, one journalled `EvictBrick` child
//! at a time, run inline; each emptied device is marked failed, then the
//! node. An interrupted evacuation is not resumed on its own (as Heketi):
//! the brick in progress is settled, and repeating the request moves the
//! rest.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::store::records::{BrickRecord, DeviceRecord, EntityState, NodeRecord, QueueOutcome};
use crate::store::{Abort, TreeName, Tx};

use super::evict::{mark_for_eviction, release_eviction, run_eviction, EvictBrick};
use super::journal::{Action, JournalEntry, JournalStatus};
use super::operation::{Change, ChangeKind, Direction, HeketiType, Operation};
use super::retired::live_bricks;
use super::{Engine, OpError, Permit};

/// Heketi's texts when an evacuation finds no device for a brick.
fn no_replacement(node: Option<&str>, device: &str, why: &str) -> String {
    match node {
        Some(node) => {
            format!("Unable to remove node [{node}] as no device was found to replace device [{device}]: {why}")
        }
        None => format!("Unable to delete device [{device}] as no device was found to replace it: {why}"),
    }
}

/// Starts moving every brick off `devices` (a device, or each device of
/// the node `node_id`) onto other devices; each ends `failed`, then the node.
pub(crate) async fn start_evacuation(
    engine: &Arc<Engine>,
    node_id: Option<String>,
    devices: Vec<String>,
    heal_check: bool,
    permit: Permit,
) -> Result<String, OpError> {
    for e in engine.store.scan::<JournalEntry>()? {
        if let Action::Evacuate(Evacuate { devices: busy, .. }) = &e.action {
            if let Some(d) = busy.iter().find(|d| devices.contains(d)) {
                return Err(OpError::Conflict(format!(
                    "Device {d} is already being evacuated by operation {}",
                    e.id
                )));
            }
        }
    }
    let entry = JournalEntry::new(Evacuate {
        node_id,
        devices,
        heal_check,
        child: None,
    });
    engine.submit(entry, Some(permit), |_| Ok(())).await
}

fn set_child(tx: &Tx<'_>, parent: &str, child: Option<&str>) -> Result<(), Abort<OpError>> {
    if let Some(mut stored) = tx.get::<JournalEntry, OpError>(parent)? {
        if let Action::Evacuate(Evacuate { child: slot, .. }) = &mut stored.action {
            *slot = child.map(str::to_string);
        }
        tx.put(&stored)?;
    }
    Ok(())
}

/// Moves every brick off the devices, one journalled `EvictBrick` at a
/// time, marking each device failed once empty, then the node (a device
/// or node set to `failed`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Evacuate {
    #[serde(default)]
    pub node_id: Option<String>,
    pub devices: Vec<String>,
    pub heal_check: bool,
    /// The replacement in progress.
    #[serde(default)]
    pub child: Option<String>,
}

#[async_trait]
impl Operation for Evacuate {
    fn name(&self) -> &'static str {
        match self.node_id {
            Some(_) => "evacuate-node",
            None => "evacuate-device",
        }
    }

    fn heketi_type(&self) -> Option<HeketiType> {
        Some(HeketiType::RemoveDevice)
    }

    fn changes(&self) -> Vec<Change> {
        let mut out: Vec<Change> = Change::each(&self.devices, ChangeKind::RemoveDevice).collect();
        out.extend(self.child.iter().map(|c| Change::new(c, ChangeKind::ChildOperation)));
        out
    }

    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
        let (node_id, devices, heal_check) = (&self.node_id, &self.devices, &self.heal_check);
        if entry.status != JournalStatus::New {
            return settle_evacuation(engine, entry, devices).await;
        }
        for device_id in devices {
            let mut attempted = std::collections::HashSet::new();
            // Each pass replaces one brick; bounded by what the device held.
            let bound = live_bricks(engine, device_id)?.len() + 1;
            for _ in 0..bound {
                let Some(brick) = live_bricks(engine, device_id)?
                    .into_iter()
                    .find(|b| !attempted.contains(&b.id))
                else {
                    break;
                };
                attempted.insert(brick.id.clone());
                if brick.path.is_empty() {
                    tracing::warn!(brick = %brick.id, "brick without a path cannot be replaced; skipped");
                    continue;
                }
                evict_child(engine, entry, &brick, *heal_check)
                    .await
                    .map_err(|e| match e {
                        e @ OpError::NoReplacement(_) => {
                            OpError::Internal(no_replacement(node_id.as_deref(), device_id, &e.to_string()))
                        }
                        other => other,
                    })?;
            }
            engine.store.transact(|tx| {
                if let Some(mut d) = tx.get::<DeviceRecord, OpError>(device_id)? {
                    d.state = EntityState::Failed;
                    tx.put(&d)?;
                }
                Ok(())
            })?;
            tracing::info!(device = %device_id, "device evacuated and marked failed");
        }
        engine.commit(entry, QueueOutcome::NoContent, |tx| {
            if let Some(id) = node_id {
                if let Some(mut node) = tx.get::<NodeRecord, OpError>(id)? {
                    node.state = EntityState::Failed;
                    tx.put(&node)?;
                }
            }
            Ok(())
        })
    }

    /// Forward: the replacement in progress is settled from gluster, and
    /// the request reports how far it got.
    async fn direction(&self, _engine: &Engine) -> Result<Direction, OpError> {
        Ok(Direction::Forward)
    }

    fn settled_from_gluster(&self) -> bool {
        true
    }
}

/// One brick of an evacuation, as its own journal entry.
async fn evict_child(
    engine: &Engine,
    parent: &JournalEntry,
    brick: &BrickRecord,
    heal_check: bool,
) -> Result<(), OpError> {
    let siblings = engine.store.children(TreeName::VolumeBricks, &brick.volume)?;
    let child = JournalEntry {
        // Reported through the evacuation's own queue entry.
        queue_id: String::new(),
        ..JournalEntry::new(EvictBrick {
            volume_id: brick.volume.clone(),
            old_brick: brick.id.clone(),
            new_brick: None,
            heal_check,
            parent: Some(parent.id.clone()),
        })
    };
    engine.store.transact(|tx| {
        mark_for_eviction(tx, &brick.id, &siblings, &child.id)?;
        set_child(tx, &parent.id, Some(&child.id))?;
        tx.put(&child)
    })?;
    if let Err(e) = engine.flush().await {
        // Nothing touched a node: take the step back out.
        let _ = engine.store.transact(|tx| {
            release_eviction(tx, &child)?;
            tx.remove::<JournalEntry, OpError>(&child.id)?;
            set_child(tx, &parent.id, None)
        });
        return Err(e);
    }
    if !engine.begin(&child.id) {
        return Err(OpError::Conflict(format!("operation {} is already running", child.id)));
    }
    let result = run_eviction(engine, &child).await;
    let recorded = engine.store.transact(|tx| {
        match &result {
            Err(OpError::Incomplete(_)) => {
                if let Some(mut stored) = tx.get::<JournalEntry, OpError>(&child.id)? {
                    stored.status = JournalStatus::Failed;
                    tx.put(&stored)?;
                }
                return Ok(());
            }
            Err(_) => tx.remove::<JournalEntry, OpError>(&child.id)?,
            Ok(()) => {}
        }
        set_child(tx, &parent.id, None)
    });
    engine.end(&child.id);
    recorded?;
    engine.flush().await?;
    result
}

/// A restart interrupted an evacuation: the replacement in progress is
/// settled, bricks already moved stay moved, and the request reports
/// failure; repeating it continues with the bricks left.
async fn settle_evacuation(engine: &Engine, entry: &JournalEntry, devices: &[String]) -> Result<(), OpError> {
    let child = match engine.store.get::<JournalEntry>(&entry.id)?.map(|e| e.action) {
        Some(Action::Evacuate(Evacuate { child, .. })) => child,
        _ => None,
    };
    if let Some(child_id) = child {
        if engine.begin(&child_id) {
            let settled = match engine.store.get::<JournalEntry>(&child_id)? {
                // A new child never ran (its journal flush failed).
                Some(stored) if stored.status == JournalStatus::New => engine
                    .store
                    .transact(|tx| {
                        release_eviction(tx, &stored)?;
                        tx.remove::<JournalEntry, OpError>(&stored.id)
                    })
                    .map_err(OpError::from),
                Some(stored) => run_eviction(engine, &stored).await,
                None => Ok(()),
            };
            engine.end(&child_id);
            settled?;
        }
    }
    let mut left = 0;
    for d in devices {
        left += live_bricks(engine, d)?.len();
    }
    engine.commit(
        entry,
        QueueOutcome::Failed(format!(
            "evacuation {} was {} with {left} brick(s) left to move; repeat the request to continue",
            entry.id,
            if entry.status == JournalStatus::Stale {
                "interrupted by a restart"
            } else {
                "stopped by a failure"
            }
        )),
        |tx| set_child(tx, &entry.id, None),
    )
}
