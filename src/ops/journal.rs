//! The operation journal: one entry per accepted long-running request,
//! written before the first executor call and removed by the committing
//! transaction. Entries left by a crash drive start-up recovery.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::executor::DeviceHandle;
use crate::store::records::{DeviceRecord, NodeRecord, QueueOutcome};
use crate::store::{Abort, Record, TreeName, Tx};

use super::{now_secs, queue, Engine, OpError, Permit};

/// Heketi's pending-operation status: "" (new), "stale" or "failed".
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum JournalStatus {
    #[default]
    New,
    /// Found at start-up, not yet recovered.
    Stale,
    /// Its rollback failed; `/operations/pending/cleanup` retries it.
    Failed,
}

impl JournalStatus {
    pub fn wire_name(self) -> &'static str {
        match self {
            JournalStatus::New => "",
            JournalStatus::Stale => "stale",
            JournalStatus::Failed => "failed",
        }
    }
}

/// What a journal entry is doing, with everything needed to finish or undo it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// The node's hostnames are reserved in the indexes; the node itself
    /// appears only at commit.
    AddNode {
        node: NodeRecord,
        /// Manage host of an existing peer that probes the new node.
        probe_from: Option<String>,
    },
    DeleteNode {
        node_id: String,
        detach_from: Option<String>,
    },
    AddDevice {
        device: DeviceRecord,
        host: String,
        destroy: bool,
    },
    DeleteDevice {
        device_id: String,
        host: String,
        handle: DeviceHandle,
        forget: bool,
    },
    ResyncDevice {
        device_id: String,
        host: String,
        handle: DeviceHandle,
    },
    /// The volume and its bricks are stored, marked pending, with their
    /// space taken; they become visible at commit.
    CreateVolume {
        volume_id: String,
        bricks: Vec<String>,
    },
    DeleteVolume {
        volume_id: String,
        bricks: Vec<String>,
    },
    /// New bricks are stored, pending, with their space taken.
    ExpandVolume {
        volume_id: String,
        bricks: Vec<String>,
        delta_gib: u64,
    },
    /// The clone and its bricks (sharing the source's pools) are stored,
    /// pending; the source is hidden until the clone is done.
    CloneVolume {
        source_id: String,
        clone_id: String,
        bricks: Vec<String>,
    },
    /// Replaces one brick by a new one on another device. The old brick is
    /// marked pending from the start; `new_brick` is recorded (stored,
    /// pending, its space taken) once placed. Whether gluster has switched
    /// (`replace-brick`, the point of no return) is read from gluster
    /// itself, so an interrupted replacement is finished if it had switched
    /// and undone if it had not.
    EvictBrick {
        volume_id: String,
        old_brick: String,
        #[serde(default)]
        new_brick: Option<String>,
        heal_check: bool,
        /// The evacuation this replacement is one step of.
        #[serde(default)]
        parent: Option<String>,
    },
    /// Moves every brick off the devices, one journalled `EvictBrick` at a
    /// time, marking each device failed once empty, then the node (a
    /// device or node set to `failed`).
    Evacuate {
        #[serde(default)]
        node_id: Option<String>,
        devices: Vec<String>,
        heal_check: bool,
        /// The replacement in progress.
        #[serde(default)]
        child: Option<String>,
    },
}

/// Which way start-up recovery takes an interrupted entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Every step is idempotent and the request was a removal: finish it.
    Forward,
    /// Undo what may have been done and report the request as failed.
    Back,
}

impl Action {
    /// Heketi's pending-operation type, for the entries Heketi itself would
    /// journal. Node and device add/delete/resync are not among them, so
    /// `/operations` and the metrics leave them out, as Heketi does.
    pub fn heketi_type(&self) -> Option<&'static str> {
        match self {
            Action::CreateVolume { .. } => Some("create-volume"),
            Action::DeleteVolume { .. } => Some("delete-volume"),
            Action::ExpandVolume { .. } => Some("expand-volume"),
            Action::CloneVolume { .. } => Some("clone-volume"),
            Action::EvictBrick { .. } => Some("evict-brick"),
            Action::Evacuate { .. } => Some("remove-device"),
            _ => None,
        }
    }

    /// Whether a failure while executing leaves node-side work to undo.
    /// Node and device actions undo their own steps; volume actions rely on
    /// idempotent teardown of everything they may have created.
    pub fn undo_after_failure(&self) -> bool {
        matches!(
            self,
            Action::CreateVolume { .. } | Action::ExpandVolume { .. } | Action::CloneVolume { .. }
        )
    }

    /// Brickyard's own name for the entry (logs, recovery messages).
    pub fn type_name(&self) -> &'static str {
        match self {
            Action::AddNode { .. } => "add-node",
            Action::DeleteNode { .. } => "delete-node",
            Action::AddDevice { .. } => "add-device",
            Action::DeleteDevice { .. } => "delete-device",
            Action::ResyncDevice { .. } => "resync-device",
            Action::CreateVolume { .. } => "create-volume",
            Action::DeleteVolume { .. } => "delete-volume",
            Action::ExpandVolume { .. } => "expand-volume",
            Action::CloneVolume { .. } => "clone-volume",
            Action::EvictBrick { .. } => "evict-brick",
            Action::Evacuate { node_id: Some(_), .. } => "evacuate-node",
            Action::Evacuate { node_id: None, .. } => "evacuate-device",
        }
    }

    /// `(object id, description)` pairs for `/operations/pending/{id}`.
    pub fn changes(&self) -> Vec<(String, &'static str)> {
        match self {
            Action::AddNode { node, .. } => vec![(node.id.clone(), "Add node")],
            Action::DeleteNode { node_id, .. } => vec![(node_id.clone(), "Delete node")],
            Action::AddDevice { device, .. } => vec![(device.id.clone(), "Add device")],
            Action::DeleteDevice { device_id, .. } => vec![(device_id.clone(), "Delete device")],
            Action::ResyncDevice { device_id, .. } => vec![(device_id.clone(), "Resync device")],
            Action::CreateVolume { volume_id, bricks } => with_bricks(bricks, "Add brick", (volume_id, "Add volume")),
            Action::DeleteVolume { volume_id, bricks } => {
                with_bricks(bricks, "Delete brick", (volume_id, "Delete volume"))
            }
            Action::ExpandVolume { volume_id, bricks, .. } => {
                with_bricks(bricks, "Add brick", (volume_id, "Expand volume"))
            }
            Action::CloneVolume {
                source_id,
                clone_id,
                bricks,
            } => {
                let mut out = vec![(source_id.clone(), "Clone volume from")];
                out.extend(with_bricks(bricks, "Add brick", (clone_id, "Expand volume to")));
                out
            }
            Action::EvictBrick {
                old_brick,
                new_brick,
                parent,
                ..
            } => {
                let mut out = vec![(old_brick.clone(), "Delete brick")];
                out.extend(new_brick.iter().map(|b| (b.clone(), "Add brick")));
                out.extend(parent.iter().map(|p| (p.clone(), "Belongs to parent operation")));
                out
            }
            Action::Evacuate { devices, child, .. } => {
                let mut out: Vec<(String, &'static str)> =
                    devices.iter().map(|d| (d.clone(), "Remove device")).collect();
                out.extend(child.iter().map(|c| (c.clone(), "Performing child operation")));
                out
            }
        }
    }

    /// Whether an interrupted run is settled by reading gluster's state
    /// (evictions), so a failure to settle it leaves it undecided.
    pub fn settled_from_gluster(&self) -> bool {
        matches!(self, Action::EvictBrick { .. } | Action::Evacuate { .. })
    }

    /// The queue answer for an entry stuck past its point of no return:
    /// what is already true for the client (a deleted volume is gone), none
    /// (still pending) when the change is yet to take effect (an expansion
    /// gluster has begun), or the failure for evictions, which report
    /// failure and are settled by a later cleanup or a repeated request.
    pub fn outcome_when_stuck(&self, why: &str) -> Option<QueueOutcome> {
        match self {
            Action::DeleteVolume { .. } => Some(QueueOutcome::NoContent),
            Action::ExpandVolume { .. } => None,
            _ => Some(QueueOutcome::Failed(why.to_string())),
        }
    }

    /// The direction start-up recovery and cleanup take when the kind alone
    /// decides it; an expansion asks gluster (`Engine::recovery_direction`).
    pub fn recovery(&self) -> Recovery {
        match self {
            Action::DeleteNode { .. }
            | Action::DeleteDevice { .. }
            | Action::DeleteVolume { .. }
            | Action::EvictBrick { .. }
            | Action::Evacuate { .. } => Recovery::Forward,
            Action::AddNode { .. }
            | Action::AddDevice { .. }
            | Action::ResyncDevice { .. }
            | Action::CreateVolume { .. }
            | Action::ExpandVolume { .. }
            | Action::CloneVolume { .. } => Recovery::Back,
        }
    }
}

fn with_bricks(
    bricks: &[String],
    brick_change: &'static str,
    last: (&String, &'static str),
) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = bricks.iter().map(|b| (b.clone(), brick_change)).collect();
    out.push((last.0.clone(), last.1));
    out
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct JournalEntry {
    pub id: String,
    pub queue_id: String,
    /// Unix seconds when accepted.
    pub timestamp: u64,
    pub action: Action,
    #[serde(default)]
    pub status: JournalStatus,
}

impl Record for JournalEntry {
    const TREE: TreeName = TreeName::Journal;
    fn id(&self) -> &str {
        &self.id
    }
}

impl JournalEntry {
    pub fn new(action: Action) -> JournalEntry {
        JournalEntry {
            id: crate::ids::new_id(),
            queue_id: crate::ids::new_id(),
            timestamp: now_secs(),
            action,
            status: JournalStatus::New,
        }
    }
}

/// How to find a device that may have been set up under its planned id.
pub(crate) fn planned_handle(device: &DeviceRecord) -> DeviceHandle {
    DeviceHandle {
        device_id: device.id.clone(),
        pv_uuid: String::new(),
        paths: vec![device.name.clone()],
    }
}

impl Engine {
    /// Journals `entry` with its pending queue entry and whatever `reserve`
    /// writes, in one transaction, starts it, and returns its queue id once
    /// the journal is on disk. The work runs in its own task, so a client
    /// that hangs up cannot strand an accepted request.
    pub async fn submit(
        self: &Arc<Self>,
        entry: JournalEntry,
        permit: Option<Permit>,
        reserve: impl Fn(&Tx<'_>) -> Result<(), Abort<OpError>>,
    ) -> Result<String, OpError> {
        self.store.transact(|tx| {
            reserve(tx)?;
            tx.put(&entry)?;
            queue::pending(tx, &entry.queue_id)
        })?;
        let queue_id = entry.queue_id.clone();
        self.spawn(entry, permit);
        self.flush().await?;
        Ok(queue_id)
    }

    /// Runs a journalled entry in the background once the journal is
    /// durable. `permit` is held until it ends. The entry counts as in
    /// flight from this call on.
    fn spawn(self: &Arc<Self>, entry: JournalEntry, permit: Option<Permit>) {
        if !self.begin(&entry.id) {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            // Nothing touches a node before its journal entry is on disk.
            let direction = match engine.flush().await {
                Ok(()) => Recovery::Forward,
                Err(e) => {
                    tracing::error!(op = %entry.id, error = %e, "journal flush failed; undoing");
                    Recovery::Back
                }
            };
            engine.run(entry, direction).await;
            drop(permit);
        });
    }

    /// Which way to take an entry a previous run left: an expansion goes
    /// forward once gluster holds any of its new bricks (`add-brick`, its
    /// point of no return), back otherwise; other kinds by their kind. An
    /// error means gluster could not say: the entry waits for a cleanup.
    pub async fn recovery_direction(&self, entry: &JournalEntry) -> Result<Recovery, OpError> {
        match &entry.action {
            Action::ExpandVolume { volume_id, bricks, .. } => {
                Ok(if self.expansion_reached_gluster(volume_id, bricks).await? {
                    Recovery::Forward
                } else {
                    Recovery::Back
                })
            }
            other => Ok(other.recovery()),
        }
    }

    /// Settles a leftover entry: claims it (so start-up recovery and a
    /// cleanup never decide about one entry at once), re-reads it (someone
    /// may have finished it meanwhile), decides its direction, then runs it.
    pub async fn settle(self: &Arc<Self>, id: &str) {
        if !self.begin(id) {
            return;
        }
        let entry = match self.store.get::<JournalEntry>(id) {
            Ok(Some(entry)) => entry,
            Ok(None) => return self.end(id),
            Err(e) => {
                tracing::error!(op = id, error = %e, "cannot read journal entry");
                return self.end(id);
            }
        };
        let kind = entry.action.type_name();
        match self.recovery_direction(&entry).await {
            Ok(direction) => {
                tracing::info!(op = id, kind, ?direction, "settling interrupted operation");
                self.run(entry, direction).await;
            }
            Err(e) => {
                tracing::warn!(op = id, kind, error = %e, "cannot tell how far the operation got; it waits for a cleanup");
                self.mark_failed(&entry, None);
                self.end(id);
            }
        }
    }

    async fn run(&self, entry: JournalEntry, direction: Recovery) {
        let label = entry.action.type_name();
        match direction {
            Recovery::Forward => match self.execute(&entry).await {
                Ok(()) => {}
                // An interrupted eviction is settled from gluster's brick
                // list; when that fails nobody knows which side it is on.
                Err(e) if entry.status != JournalStatus::New && entry.action.settled_from_gluster() => {
                    tracing::error!(op = %entry.id, kind = label, error = %e, "resumed operation failed again");
                    self.mark_failed(&entry, Some(QueueOutcome::Failed(e.to_string())));
                }
                Err(OpError::Incomplete(why)) => {
                    tracing::error!(op = %entry.id, kind = label, error = %why, "operation stuck past its point of no return");
                    let answer = entry.action.outcome_when_stuck(&why);
                    self.mark_failed(&entry, answer);
                }
                Err(OpError::Undecided(why)) => {
                    tracing::error!(op = %entry.id, kind = label, error = %why, "cannot tell how far the operation got; it waits for a cleanup");
                    self.mark_failed(&entry, None);
                }
                Err(e) => {
                    tracing::warn!(op = %entry.id, kind = label, error = %e, "operation failed; rolling back");
                    let undo = entry.action.undo_after_failure();
                    self.roll_back(&entry, e.to_string(), undo).await;
                }
            },
            Recovery::Back => {
                let reason = format!("{label} operation {} interrupted by restart, rolled back", entry.id);
                self.roll_back(&entry, reason, true).await;
            }
        }
        if let Err(e) = self.flush().await {
            tracing::error!(op = %entry.id, error = %e, "store flush failed");
        }
        self.end(&entry.id);
    }

    async fn execute(&self, entry: &JournalEntry) -> Result<(), OpError> {
        match &entry.action {
            Action::AddNode { node, probe_from } => self.add_node_execute(entry, node, probe_from.as_deref()).await,
            Action::DeleteNode { node_id, detach_from } => {
                self.delete_node_execute(entry, node_id, detach_from.as_deref()).await
            }
            Action::AddDevice { device, host, destroy } => self.add_device_execute(entry, device, host, *destroy).await,
            Action::DeleteDevice {
                device_id,
                host,
                handle,
                forget,
            } => {
                self.delete_device_execute(entry, device_id, host, handle, *forget)
                    .await
            }
            Action::ResyncDevice {
                device_id,
                host,
                handle,
            } => self.resync_device_execute(entry, device_id, host, handle).await,
            Action::CreateVolume { volume_id, bricks } => self.create_volume_execute(entry, volume_id, bricks).await,
            Action::DeleteVolume { volume_id, bricks } => self.delete_volume_execute(entry, volume_id, bricks).await,
            Action::ExpandVolume {
                volume_id,
                bricks,
                delta_gib,
            } => self.expand_volume_execute(entry, volume_id, bricks, *delta_gib).await,
            Action::CloneVolume {
                source_id,
                clone_id,
                bricks,
            } => self.clone_volume_execute(entry, source_id, clone_id, bricks).await,
            Action::EvictBrick { .. } => self.evict_brick_execute(entry).await,
            Action::Evacuate { .. } => self.evacuate_execute(entry).await,
        }
    }

    /// Releases an entry's reservations and reports `reason` through its
    /// queue entry. With `node_side`, first undoes what may have been done on
    /// the nodes (after a crash nobody knows how far it got); if that fails,
    /// the entry stays, marked `failed`, for a later cleanup to retry.
    pub(crate) async fn roll_back(&self, entry: &JournalEntry, reason: String, node_side: bool) {
        // The stored entry names what exists now (a retried create swaps bricks).
        let stored = self.store.get::<JournalEntry>(&entry.id).ok().flatten();
        let entry = stored.as_ref().unwrap_or(entry);
        let undone = if node_side {
            self.undo_node_side(&entry.action).await
        } else {
            Ok(())
        };
        // Reservations go only with what they stand for: after a failed undo
        // the bricks (or names) still exist on the nodes and stay recorded.
        let outcome = self.store.transact(|tx| match &undone {
            Ok(()) => {
                self.release_reservations(tx, entry)?;
                tx.remove::<JournalEntry, OpError>(&entry.id)?;
                queue::finish(tx, &entry.queue_id, QueueOutcome::Failed(reason.clone()))
            }
            Err(undo_error) => {
                let mut failed = entry.clone();
                failed.status = JournalStatus::Failed;
                tx.put(&failed)?;
                queue::finish(
                    tx,
                    &entry.queue_id,
                    QueueOutcome::Failed(format!("{reason}; undoing it on the node failed: {undo_error}")),
                )
            }
        });
        if let Err(e) = &undone {
            tracing::error!(op = %entry.id, error = %e, "node-side undo failed; operation marked failed");
        }
        if let Err(e) = outcome {
            tracing::error!(op = %entry.id, error = %e, "cannot record rollback");
        }
    }

    /// Leaves an entry for a later cleanup to finish. The client hears
    /// `answer` (what will be true once it is finished), or, with none,
    /// keeps polling until then: a final answer is never taken back.
    fn mark_failed(&self, entry: &JournalEntry, answer: Option<QueueOutcome>) {
        let result = self.store.transact(|tx| {
            if let Some(mut stored) = tx.get::<JournalEntry, OpError>(&entry.id)? {
                stored.status = JournalStatus::Failed;
                tx.put(&stored)?;
            }
            match &answer {
                Some(outcome) => queue::finish(tx, &entry.queue_id, outcome.clone()),
                None => Ok(()),
            }
        });
        if let Err(e) = result {
            tracing::error!(op = %entry.id, error = %e, "cannot mark operation failed");
        }
    }

    /// Idempotent undo of an entry's possible node-side effects.
    async fn undo_node_side(&self, action: &Action) -> Result<(), String> {
        match action {
            Action::AddNode { node, probe_from } => {
                if let Some(from) = probe_from {
                    // Heketi ignores detach failures too; the pool tolerates a stray peer.
                    let _ = self.executor.peer_detach(from, node.storage_host()).await;
                }
                Ok(())
            }
            Action::AddDevice { device, host, .. } => self
                .executor
                .device_teardown(host, &planned_handle(device))
                .await
                .map_err(|e| e.to_string()),
            Action::CreateVolume { volume_id, bricks } => self.undo_volume(volume_id, bricks).await,
            Action::CloneVolume { clone_id, bricks, .. } => self.undo_clone(clone_id, bricks).await,
            Action::ExpandVolume { volume_id, bricks, .. } => self.undo_bricks(volume_id, bricks).await,
            Action::DeleteNode { .. }
            | Action::DeleteDevice { .. }
            | Action::ResyncDevice { .. }
            | Action::DeleteVolume { .. }
            | Action::EvictBrick { .. }
            | Action::Evacuate { .. } => Ok(()),
        }
    }

    fn release_reservations(&self, tx: &Tx<'_>, entry: &JournalEntry) -> Result<(), Abort<OpError>> {
        match &entry.action {
            Action::AddNode { node, .. } => super::nodes::unregister_hostnames(tx, node),
            Action::AddDevice { device, .. } => super::devices::release_name(tx, device),
            Action::CreateVolume { volume_id, bricks } => self.release_volume(tx, volume_id, bricks),
            Action::ExpandVolume { bricks, .. } => self.release_bricks(tx, bricks),
            Action::CloneVolume {
                source_id,
                clone_id,
                bricks,
            } => {
                self.release_volume(tx, clone_id, bricks)?;
                self.unmark_volume(tx, source_id, &[])
            }
            Action::DeleteVolume { volume_id, bricks } => self.unmark_volume(tx, volume_id, bricks),
            Action::EvictBrick { .. } => self.release_eviction(tx, entry),
            _ => Ok(()),
        }
    }

    /// The committing transaction: `body`'s changes, the journal entry gone and
    /// the queue entry final, all at once.
    pub(crate) fn commit(
        &self,
        entry: &JournalEntry,
        outcome: QueueOutcome,
        body: impl Fn(&Tx<'_>) -> Result<(), Abort<OpError>>,
    ) -> Result<(), OpError> {
        self.store.transact(|tx| {
            if tx.get::<JournalEntry, OpError>(&entry.id)?.is_none() {
                // Someone else (a cleanup) already finished it.
                return Err(Abort::User(OpError::Conflict(format!(
                    "operation {} is no longer pending",
                    entry.id
                ))));
            }
            body(tx)?;
            tx.remove::<JournalEntry, OpError>(&entry.id)?;
            queue::finish(tx, &entry.queue_id, outcome.clone())
        })?;
        Ok(())
    }
}
