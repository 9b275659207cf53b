//! Brick eviction and evacuation: a brick is replaced by a new one on
//! another device with `gluster volume replace-brick ... commit force`, and
//! a device or node set to `failed` has every brick replaced that way.
//!
//! Each replacement is its own journal entry. `replace-brick` is the point
//! of no return: after it, an interrupted replacement is finished (the old
//! brick destroyed, the records switched); before it, it is undone (the new
//! brick destroyed and released). Which side of it a replacement stopped on
//! is read from gluster's own brick list, never guessed.

use std::collections::HashMap;
use std::sync::Arc;

use crate::executor::{brick_path, ExecError};
use crate::ids::new_id;
use crate::placement::{self, Layout, Refusal, Replacement, NO_REPLACEMENT};
use crate::store::records::{
    BrickRecord, ClusterRecord, DeviceRecord, EntityState, NodeRecord, QueueOutcome, VolumeRecord,
};
use crate::store::{Abort, TreeName, Tx};

use super::journal::{Action, JournalEntry, JournalStatus};
use super::volumes::{brick_spec, drop_brick, layout_of, placement_request, pool_key};
use super::{Engine, OpError};

/// How often a replacement is placed again when the store changed under it.
const PLACE_ATTEMPTS: usize = 5;

/// Where an interrupted replacement ended up.
enum Settled {
    /// Gluster had switched: the replacement is complete and committed.
    Finished,
    /// Gluster had not switched: the new brick is gone, the old one kept.
    Undone,
}

/// Bricks of the set still online that a replacement needs: Heketi's rule.
fn quorum(layout: Layout) -> usize {
    match layout {
        Layout::Replicate(n) if n < 3 => 1,
        Layout::Replicate(n) => (n / 2 + 1) as usize,
        Layout::Disperse { data, .. } => data as usize,
        Layout::Distribute => 1,
    }
}

fn failed(e: ExecError) -> OpError {
    OpError::Internal(e.to_string())
}

/// The evict fields of a journal entry.
struct Evict {
    volume_id: String,
    old_brick: String,
    new_brick: Option<String>,
    heal_check: bool,
}

fn evict_of(entry: &JournalEntry) -> Result<Evict, OpError> {
    match &entry.action {
        Action::EvictBrick {
            volume_id,
            old_brick,
            new_brick,
            heal_check,
            ..
        } => Ok(Evict {
            volume_id: volume_id.clone(),
            old_brick: old_brick.clone(),
            new_brick: new_brick.clone(),
            heal_check: *heal_check,
        }),
        _ => Err(OpError::Internal(format!(
            "operation {} is not a brick eviction",
            entry.id
        ))),
    }
}

/// Marks a brick as being evicted, refusing when it or its volume is busy.
fn mark_for_eviction(tx: &Tx<'_>, brick_id: &str, siblings: &[String], op: &str) -> Result<(), Abort<OpError>> {
    let busy = |why: String| Abort::User(OpError::Internal(format!("Failed to set up brick eviction: {why}")));
    let mut brick = tx
        .get::<BrickRecord, OpError>(brick_id)?
        .ok_or(Abort::User(OpError::id_not_found()))?;
    if brick.retired {
        return Err(Abort::User(OpError::id_not_found()));
    }
    if !brick.pending.is_empty() {
        return Err(busy(format!("Can not evict brick {brick_id}: brick is pending")));
    }
    let volume = tx
        .get::<VolumeRecord, OpError>(&brick.volume)?
        .ok_or_else(|| busy(format!("volume {} of brick {brick_id} is gone", brick.volume)))?;
    let volume_busy = || {
        busy(format!(
            "Can not evict brick {brick_id} from volume {}: volume has pending bricks",
            volume.id
        ))
    };
    if !volume.pending.is_empty()
        || tx.child_count::<OpError>(TreeName::VolumeBricks, &volume.id)? != siblings.len() as u64
    {
        return Err(volume_busy());
    }
    for id in siblings.iter().chain(&volume.brick_order) {
        match tx.get::<BrickRecord, OpError>(id)? {
            Some(b) if b.pending.is_empty() || b.id == brick_id => {}
            _ => return Err(volume_busy()),
        }
    }
    brick.pending = op.to_string();
    tx.put(&brick)
}

impl Engine {
    fn live_bricks(&self, device: &str) -> Result<Vec<BrickRecord>, OpError> {
        let mut out = Vec::new();
        for id in self.store.children(TreeName::DeviceBricks, device)? {
            if let Some(b) = self.store.get::<BrickRecord>(&id)? {
                if !b.retired {
                    out.push(b);
                }
            }
        }
        Ok(out)
    }

    /// Store-side undo of an eviction that never reached a node: the old
    /// brick's marker cleared, a recorded new brick dropped with its space.
    pub(crate) fn release_eviction(&self, tx: &Tx<'_>, entry: &JournalEntry) -> Result<(), Abort<OpError>> {
        let Action::EvictBrick {
            old_brick, new_brick, ..
        } = &entry.action
        else {
            return Ok(());
        };
        if let Some(mut b) = tx.get::<BrickRecord, OpError>(old_brick)? {
            if b.pending == entry.id {
                b.pending.clear();
                tx.put(&b)?;
            }
        }
        if let Some(new) = new_brick {
            if let Some(b) = tx.get::<BrickRecord, OpError>(new)? {
                drop_brick(tx, &b, true)?;
            }
        }
        Ok(())
    }

    /// Whether a device still holds bricks of volumes (retired ones aside).
    pub(crate) fn device_has_live_bricks(&self, device: &str) -> Result<bool, OpError> {
        Ok(!self.live_bricks(device)?.is_empty())
    }

    /// `POST /bricks/to-evict/{id}`.
    pub async fn evict_brick(self: &Arc<Self>, brick_id: &str, heal_check: bool) -> Result<String, OpError> {
        let brick = self
            .store
            .get::<BrickRecord>(brick_id)?
            .filter(|b| !b.retired)
            .ok_or_else(OpError::id_not_found)?;
        let volume = self.store.get::<VolumeRecord>(&brick.volume)?.ok_or_else(|| {
            OpError::Internal(format!(
                "Failed to set up brick eviction: volume {} is gone",
                brick.volume
            ))
        })?;
        if layout_of(&volume.durability) == Layout::Distribute {
            return Err(OpError::Internal(format!(
                "Failed to set up brick eviction: replace brick is not supported for volume durability type {}",
                if volume.durability.kind.is_empty() {
                    "none"
                } else {
                    &volume.durability.kind
                }
            )));
        }
        let permit = self.throttle.acquire().await?;
        let siblings = self.store.children(TreeName::VolumeBricks, &volume.id)?;
        let entry = JournalEntry::new(Action::EvictBrick {
            volume_id: volume.id.clone(),
            old_brick: brick_id.to_string(),
            new_brick: None,
            heal_check,
            parent: None,
        });
        let op = entry.id.clone();
        self.submit(entry, Some(permit), |tx| {
            mark_for_eviction(tx, brick_id, &siblings, &op)
        })
        .await
    }

    /// A manage host whose glusterd answers: the preferred node's, else the
    /// first online node of the cluster that answers (Heketi's fallback).
    async fn answering_host(&self, preferred: Option<&NodeRecord>, cluster: &str) -> Result<String, OpError> {
        if let Some(node) = preferred {
            if self.executor.glusterd_check(node.manage_host()).await.is_ok() {
                return Ok(node.manage_host().to_string());
            }
        }
        for id in self.store.children(TreeName::ClusterNodes, cluster)? {
            let Some(node) = self.store.get::<NodeRecord>(&id)? else {
                continue;
            };
            if node.state != EntityState::Online || preferred.is_some_and(|p| p.id == node.id) {
                continue;
            }
            if self.executor.glusterd_check(node.manage_host()).await.is_ok() {
                return Ok(node.manage_host().to_string());
            }
        }
        Err(OpError::Internal(format!(
            "No node of cluster {cluster} answers with glusterd running"
        )))
    }

    fn node(&self, id: &str) -> Result<NodeRecord, OpError> {
        self.store
            .get::<NodeRecord>(id)?
            .ok_or_else(|| OpError::Internal(format!("node {id} is missing from the store")))
    }

    fn brick(&self, id: &str) -> Result<BrickRecord, OpError> {
        self.store
            .get::<BrickRecord>(id)?
            .ok_or_else(|| OpError::Internal(format!("brick {id} is missing from the store")))
    }

    /// `storage host:path`, gluster's name for a brick.
    fn gluster_name(&self, brick: &BrickRecord) -> Result<String, OpError> {
        Ok(format!("{}:{}", self.node(&brick.node)?.storage_host(), brick.path))
    }

    /// The old brick's set in gluster's order, and its position in it.
    async fn brick_set(
        &self,
        host: &str,
        volume: &VolumeRecord,
        old: &BrickRecord,
    ) -> Result<(Vec<BrickRecord>, usize), OpError> {
        let names = self
            .executor
            .volume_bricks(host, &volume.name)
            .await
            .map_err(failed)?
            .ok_or_else(|| OpError::Internal(format!("Gluster has no volume {}", volume.name)))?;
        let mut by_name: HashMap<String, BrickRecord> = HashMap::new();
        for id in self.store.children(TreeName::VolumeBricks, &volume.id)? {
            let b = self.brick(&id)?;
            by_name.insert(self.gluster_name(&b)?, b);
        }
        let size = layout_of(&volume.durability).bricks_per_set() as usize;
        if size == 0 || size > names.len() || names.len() % size != 0 {
            return Err(OpError::Internal(format!(
                "Gluster lists {} bricks for volume {}, which does not divide into sets of {size}",
                names.len(),
                volume.name
            )));
        }
        for set in names.chunks(size) {
            let mut bricks = Vec::with_capacity(size);
            for name in set {
                let b = by_name.get(name).ok_or_else(|| {
                    OpError::Internal(format!(
                        "Gluster volume {} has brick {name}, which Brickyard does not know: the store may not match the cluster",
                        volume.name
                    ))
                })?;
                bricks.push(b.clone());
            }
            if let Some(index) = bricks.iter().position(|b| b.id == old.id) {
                if bricks.len() != size {
                    break;
                }
                return Ok((bricks, index));
            }
        }
        Err(OpError::Internal(format!(
            "Unable to find brick set for brick {}, db is possibly corrupt",
            old.id
        )))
    }

    /// Heketi's heal check, except that a peer brick counts as online only
    /// when gluster reports it `Connected`.
    async fn check_heal(
        &self,
        host: &str,
        volume: &VolumeRecord,
        set: &[BrickRecord],
        index: usize,
    ) -> Result<(), OpError> {
        let entries = self
            .executor
            .heal_info(host, &volume.name)
            .await
            .map_err(|e| OpError::Internal(format!("Unable to get heal info of volume : {} : {e}", volume.name)))?;
        let mut names = HashMap::new();
        for b in set {
            names.insert(self.gluster_name(b)?, b.id.clone());
        }
        let old = &set[index].id;
        let mut online_peers = 0;
        for e in entries.iter().filter(|e| e.brick != "information not available") {
            let Some(id) = names.get(&e.brick) else {
                continue;
            };
            if id == old {
                if e.entries != "-" && e.entries != "0" {
                    return Err(OpError::Internal(format!(
                        "Cannot replace brick {old} as it is source brick for data to be healed"
                    )));
                }
            } else if e.connected() {
                online_peers += 1;
            }
        }
        let needed = quorum(layout_of(&volume.durability));
        if online_peers < needed {
            return Err(OpError::Internal(format!(
                "Cannot replace brick {old} as only {online_peers} of {needed} required peer bricks are online"
            )));
        }
        Ok(())
    }

    /// Places the new brick and records it (pending, space taken) on the
    /// journal entry, in one transaction.
    fn allocate_replacement(
        &self,
        entry: &JournalEntry,
        volume: &VolumeRecord,
        set: &[BrickRecord],
        index: usize,
    ) -> Result<BrickRecord, OpError> {
        let old = &set[index];
        let cluster = self
            .store
            .get::<ClusterRecord>(&volume.cluster)?
            .ok_or_else(|| OpError::Internal(format!("cluster {} is gone", volume.cluster)))?;
        let request = placement_request(volume, volume.size_gib, 0, &self.settings.limits)?;
        let mut others = Vec::new();
        for (i, b) in set.iter().enumerate() {
            if i != index {
                others.push((b.node.clone(), self.node(&b.node)?.zone));
            }
        }
        let replacement = Replacement {
            old_device: old.device.clone(),
            others,
            size_kib: old.size,
            arbiter: old.sub_type == 2,
        };
        for _ in 0..PLACE_ATTEMPTS {
            let slot = self.cluster_slot(&cluster)?;
            let planned = match placement::place_replacement(&slot, &request, &replacement, new_id()) {
                Ok(p) => p,
                Err(Refusal::NoSpace(why)) => return Err(OpError::Internal(format!("{NO_REPLACEMENT}: {why}"))),
                Err(other) => return Err(OpError::Internal(other.to_string())),
            };
            let brick = BrickRecord {
                path: brick_path(&planned.device, &planned.id),
                device: planned.device.clone(),
                node: planned.node.clone(),
                volume: volume.id.clone(),
                size: planned.size_kib,
                tp_size: planned.pool.tp,
                pool_metadata_size: planned.pool.meta,
                lvm_thin_pool: format!("tp_{}", planned.id),
                lvm_lv: format!("brick_{}", planned.id),
                sub_type: old.sub_type,
                charged: planned.pool.total(),
                pending: entry.id.clone(),
                retired: false,
                id: planned.id.clone(),
            };
            let recorded = self.store.transact(|tx| {
                let mut stored = tx
                    .get::<JournalEntry, OpError>(&entry.id)?
                    .ok_or(Abort::User(OpError::Conflict("operation is no longer pending".into())))?;
                let Action::EvictBrick { new_brick, .. } = &mut stored.action else {
                    return Err(Abort::User(OpError::Internal("not a brick eviction".into())));
                };
                if new_brick.is_some() {
                    return Err(Abort::User(OpError::Internal(format!(
                        "operation {} already has a replacement brick",
                        entry.id
                    ))));
                }
                *new_brick = Some(brick.id.clone());
                let mut device = tx
                    .get::<DeviceRecord, OpError>(&brick.device)?
                    .ok_or(Abort::User(OpError::Retry))?;
                if device.state != EntityState::Online || device.space.free <= brick.charged {
                    return Err(Abort::User(OpError::Retry));
                }
                device.space.free -= brick.charged;
                device.space.used += brick.charged;
                tx.put(&device)?;
                tx.put(&brick)?;
                // Joins its volume only when gluster has it.
                tx.link(TreeName::DeviceBricks, &brick.device, &brick.id)?;
                tx.index_put(TreeName::PoolBricks, &pool_key(&brick), &brick.id)?;
                tx.put(&stored)
            });
            match recorded {
                Ok(()) => return Ok(brick),
                Err(crate::store::TxFailure::User(OpError::Retry)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(OpError::Internal(
            "the topology kept changing while placing the replacement brick; retry".into(),
        ))
    }

    /// Runs a brick eviction journal entry: in full when new, or settles it
    /// when a previous run was interrupted.
    pub(crate) async fn evict_brick_execute(&self, entry: &JournalEntry) -> Result<(), OpError> {
        if entry.status != JournalStatus::New {
            return match self.settle_eviction(entry).await? {
                Settled::Finished => Ok(()),
                Settled::Undone => self.commit(
                    entry,
                    QueueOutcome::Failed(format!(
                        "brick eviction {} was interrupted before gluster switched bricks; undone",
                        entry.id
                    )),
                    |_| Ok(()),
                ),
            };
        }
        match self.evict_forward(entry).await {
            Ok(()) => Ok(()),
            Err(stuck @ OpError::Incomplete(_)) => Err(stuck),
            Err(error) => match self.settle_eviction(entry).await {
                Ok(Settled::Finished) => Ok(()),
                Ok(Settled::Undone) => Err(error),
                Err(stuck) => Err(OpError::Incomplete(format!("{error}; and settling it failed: {stuck}"))),
            },
        }
    }

    async fn evict_forward(&self, entry: &JournalEntry) -> Result<(), OpError> {
        let evict = evict_of(entry)?;
        let volume = self
            .store
            .get::<VolumeRecord>(&evict.volume_id)?
            .ok_or_else(|| OpError::Internal(format!("volume {} is gone", evict.volume_id)))?;
        if layout_of(&volume.durability) == Layout::Distribute {
            return Err(OpError::Internal(format!(
                "replace brick is not supported for volume durability type none (volume {})",
                volume.name
            )));
        }
        let old = self.brick(&evict.old_brick)?;
        let old_node = self.node(&old.node)?;
        let host = self.answering_host(Some(&old_node), &volume.cluster).await?;
        let (set, index) = self.brick_set(&host, &volume, &old).await?;
        if evict.heal_check {
            self.check_heal(&host, &volume, &set, index).await?;
        }
        let new = self.allocate_replacement(entry, &volume, &set, index)?;
        // The new brick is on disk in the journal before it exists on a node.
        self.flush().await?;
        let new_node = self.node(&new.node)?;
        self.executor
            .brick_create(new_node.manage_host(), &brick_spec(&new, volume.gid))
            .await
            .map_err(failed)?;
        let host = self.answering_host(Some(&new_node), &volume.cluster).await?;
        let (old_name, new_name) = (self.gluster_name(&old)?, self.gluster_name(&new)?);
        tracing::info!(volume = %volume.name, old = %old_name, new = %new_name, "replacing brick");
        if let Err(e) = self
            .executor
            .brick_replace(&host, &volume.name, &old_name, &new_name)
            .await
        {
            let why = format!(
                "Unable to replace brick {old_name} with {new_name} for volume {}: {e}",
                volume.name
            );
            // Lost on the way or timed out, gluster may still be switching:
            // the brick list is read again later, by cleanup, not now.
            if e.unreachable || e.message.contains("timed out") {
                return Err(OpError::Incomplete(why));
            }
            return Err(OpError::Internal(why));
        }
        // Heal the new brick now, not at the self-heal daemon's next crawl
        // (up to ten minutes away), so the next replacement's heal check
        // can pass sooner.
        if let Err(e) = self.executor.heal_start(&host, &volume.name).await {
            tracing::info!(volume = %volume.name, error = %e, "starting a heal failed; the self-heal daemon will get to it");
        }
        self.finish_eviction(entry, &volume, &old, &new).await
    }

    /// After gluster switched: the old brick goes (or waits for its node),
    /// the new one joins the volume in the old one's place.
    async fn finish_eviction(
        &self,
        entry: &JournalEntry,
        volume: &VolumeRecord,
        old: &BrickRecord,
        new: &BrickRecord,
    ) -> Result<(), OpError> {
        let old_host = self.node(&old.node)?.manage_host().to_string();
        let retire = match self
            .executor
            .brick_destroy(&old_host, &brick_spec(old, volume.gid))
            .await
        {
            Ok(reclaimed) => Some(reclaimed),
            Err(e) => {
                if self.executor.glusterd_check(&old_host).await.is_ok() {
                    return Err(OpError::Incomplete(format!(
                        "Brick {} was replaced in gluster, but removing it from {old_host} failed: {e}",
                        old.id
                    )));
                }
                tracing::warn!(brick = %old.id, host = %old_host, error = %e,
                    "old brick's node does not answer; its cleanup waits until it does");
                None
            }
        };
        self.commit(entry, QueueOutcome::NoContent, |tx| {
            match (tx.get::<BrickRecord, OpError>(&old.id)?, retire) {
                (None, _) => {}
                (Some(old), Some(reclaimed)) => drop_brick(tx, &old, reclaimed)?,
                (Some(mut old), None) => {
                    tx.unlink(TreeName::VolumeBricks, &old.volume, &old.id)?;
                    old.retired = true;
                    old.pending.clear();
                    tx.put(&old)?;
                }
            }
            let mut new = tx
                .get::<BrickRecord, OpError>(&new.id)?
                .ok_or(Abort::User(OpError::Internal(format!("new brick {} is gone", new.id))))?;
            new.pending.clear();
            tx.put(&new)?;
            tx.link(TreeName::VolumeBricks, &new.volume, &new.id)?;
            if let Some(mut v) = tx.get::<VolumeRecord, OpError>(&new.volume)? {
                for slot in v.brick_order.iter_mut().filter(|b| **b == old.id) {
                    *slot = new.id.clone();
                }
                tx.put(&v)?;
            }
            Ok(())
        })
    }

    /// Takes a failed or interrupted eviction to one side of the point of
    /// no return, as gluster's brick list says.
    async fn settle_eviction(&self, entry: &JournalEntry) -> Result<Settled, OpError> {
        let Some(stored) = self.store.get::<JournalEntry>(&entry.id)? else {
            return Ok(Settled::Finished);
        };
        let evict = evict_of(&stored)?;
        let release_old = |tx: &Tx<'_>| -> Result<(), Abort<OpError>> {
            if let Some(mut b) = tx.get::<BrickRecord, OpError>(&evict.old_brick)? {
                if b.pending == entry.id {
                    b.pending.clear();
                    tx.put(&b)?;
                }
            }
            Ok(())
        };
        let Some(new_id) = evict.new_brick.clone() else {
            self.store.transact(release_old)?;
            return Ok(Settled::Undone);
        };
        let volume = self
            .store
            .get::<VolumeRecord>(&evict.volume_id)?
            .ok_or_else(|| OpError::Internal(format!("volume {} is gone", evict.volume_id)))?;
        let old = self.brick(&evict.old_brick)?;
        let new = self.brick(&new_id)?;
        let host = self.answering_host(None, &volume.cluster).await?;
        let names = self
            .executor
            .volume_bricks(&host, &volume.name)
            .await
            .map_err(failed)?
            .ok_or_else(|| OpError::Internal(format!("Gluster has no volume {}", volume.name)))?;
        let (old_name, new_name) = (self.gluster_name(&old)?, self.gluster_name(&new)?);
        if names.contains(&new_name) {
            tracing::info!(op = %entry.id, "gluster has the new brick: finishing the replacement");
            self.finish_eviction(&stored, &volume, &old, &new).await?;
            return Ok(Settled::Finished);
        }
        if !names.contains(&old_name) {
            return Err(OpError::Incomplete(format!(
                "Gluster volume {} lists neither brick {old_name} nor its replacement {new_name}",
                volume.name
            )));
        }
        let new_host = self.node(&new.node)?.manage_host().to_string();
        let reclaimed = self
            .executor
            .brick_destroy(&new_host, &brick_spec(&new, volume.gid))
            .await
            .map_err(|e| OpError::Incomplete(format!("cannot remove the unused replacement brick: {e}")))?;
        self.store.transact(|tx| {
            if let Some(b) = tx.get::<BrickRecord, OpError>(&new.id)? {
                drop_brick(tx, &b, reclaimed)?;
            }
            if let Some(mut stored) = tx.get::<JournalEntry, OpError>(&entry.id)? {
                if let Action::EvictBrick { new_brick, .. } = &mut stored.action {
                    *new_brick = None;
                }
                tx.put(&stored)?;
            }
            release_old(tx)
        })?;
        Ok(Settled::Undone)
    }
}

/// Heketi's texts when an evacuation finds no device for a brick.
fn no_replacement(node: Option<&str>, device: &str, why: &str) -> String {
    match node {
        Some(node) => {
            format!("Unable to remove node [{node}] as no device was found to replace device [{device}]: {why}")
        }
        None => format!("Unable to delete device [{device}] as no device was found to replace it: {why}"),
    }
}

impl Engine {
    /// Starts moving every brick off `devices` (a device, or each device of
    /// the node `node_id`) onto other devices; each ends `failed`, then the node.
    pub(crate) async fn start_evacuation(
        self: &Arc<Self>,
        node_id: Option<String>,
        devices: Vec<String>,
        heal_check: bool,
        permit: super::Permit,
    ) -> Result<String, OpError> {
        for e in self.store.scan::<JournalEntry>()? {
            if let Action::Evacuate { devices: busy, .. } = &e.action {
                if let Some(d) = busy.iter().find(|d| devices.contains(d)) {
                    return Err(OpError::Conflict(format!(
                        "Device {d} is already being evacuated by operation {}",
                        e.id
                    )));
                }
            }
        }
        let entry = JournalEntry::new(Action::Evacuate {
            node_id,
            devices,
            heal_check,
            child: None,
        });
        self.submit(entry, Some(permit), |_| Ok(())).await
    }

    fn set_child(&self, tx: &Tx<'_>, parent: &str, child: Option<&str>) -> Result<(), Abort<OpError>> {
        if let Some(mut stored) = tx.get::<JournalEntry, OpError>(parent)? {
            if let Action::Evacuate { child: slot, .. } = &mut stored.action {
                *slot = child.map(str::to_string);
            }
            tx.put(&stored)?;
        }
        Ok(())
    }

    pub(crate) async fn evacuate_execute(&self, entry: &JournalEntry) -> Result<(), OpError> {
        let Action::Evacuate {
            node_id,
            devices,
            heal_check,
            ..
        } = &entry.action
        else {
            return Err(OpError::Internal(format!(
                "operation {} is not an evacuation",
                entry.id
            )));
        };
        if entry.status != JournalStatus::New {
            return self.settle_evacuation(entry, devices).await;
        }
        for device_id in devices {
            let mut attempted = std::collections::HashSet::new();
            // Each pass replaces one brick; bounded by what the device held.
            let bound = self.live_bricks(device_id)?.len() + 1;
            for _ in 0..bound {
                let Some(brick) = self
                    .live_bricks(device_id)?
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
                self.evict_child(entry, &brick, *heal_check)
                    .await
                    .map_err(|e| match e {
                        OpError::Internal(m) if m.starts_with(NO_REPLACEMENT) => {
                            OpError::Internal(no_replacement(node_id.as_deref(), device_id, &m))
                        }
                        other => other,
                    })?;
            }
            self.store.transact(|tx| {
                if let Some(mut d) = tx.get::<DeviceRecord, OpError>(device_id)? {
                    d.state = EntityState::Failed;
                    tx.put(&d)?;
                }
                Ok(())
            })?;
            tracing::info!(device = %device_id, "device evacuated and marked failed");
        }
        self.commit(entry, QueueOutcome::NoContent, |tx| {
            if let Some(id) = node_id {
                if let Some(mut node) = tx.get::<NodeRecord, OpError>(id)? {
                    node.state = EntityState::Failed;
                    tx.put(&node)?;
                }
            }
            Ok(())
        })
    }

    /// One brick of an evacuation, as its own journal entry.
    async fn evict_child(&self, parent: &JournalEntry, brick: &BrickRecord, heal_check: bool) -> Result<(), OpError> {
        let siblings = self.store.children(TreeName::VolumeBricks, &brick.volume)?;
        let child = JournalEntry {
            // Reported through the evacuation's own queue entry.
            queue_id: String::new(),
            ..JournalEntry::new(Action::EvictBrick {
                volume_id: brick.volume.clone(),
                old_brick: brick.id.clone(),
                new_brick: None,
                heal_check,
                parent: Some(parent.id.clone()),
            })
        };
        self.store.transact(|tx| {
            mark_for_eviction(tx, &brick.id, &siblings, &child.id)?;
            self.set_child(tx, &parent.id, Some(&child.id))?;
            tx.put(&child)
        })?;
        if let Err(e) = self.flush().await {
            // Nothing touched a node: take the step back out.
            let _ = self.store.transact(|tx| {
                self.release_eviction(tx, &child)?;
                tx.remove::<JournalEntry, OpError>(&child.id)?;
                self.set_child(tx, &parent.id, None)
            });
            return Err(e);
        }
        if !self.begin(&child.id) {
            return Err(OpError::Conflict(format!("operation {} is already running", child.id)));
        }
        let result = self.evict_brick_execute(&child).await;
        let recorded = self.store.transact(|tx| {
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
            self.set_child(tx, &parent.id, None)
        });
        self.end(&child.id);
        recorded?;
        self.flush().await?;
        result
    }

    /// A restart interrupted an evacuation: the replacement in progress is
    /// settled, bricks already moved stay moved, and the request reports
    /// failure; repeating it continues with the bricks left.
    async fn settle_evacuation(&self, entry: &JournalEntry, devices: &[String]) -> Result<(), OpError> {
        let child = match self.store.get::<JournalEntry>(&entry.id)?.map(|e| e.action) {
            Some(Action::Evacuate { child, .. }) => child,
            _ => None,
        };
        if let Some(child_id) = child {
            if self.begin(&child_id) {
                let settled = match self.store.get::<JournalEntry>(&child_id)? {
                    // A new child never ran (its journal flush failed).
                    Some(stored) if stored.status == JournalStatus::New => self
                        .store
                        .transact(|tx| {
                            self.release_eviction(tx, &stored)?;
                            tx.remove::<JournalEntry, OpError>(&stored.id)
                        })
                        .map_err(OpError::from),
                    Some(stored) => self.evict_brick_execute(&stored).await,
                    None => Ok(()),
                };
                self.end(&child_id);
                settled?;
            }
        }
        let mut left = 0;
        for d in devices {
            left += self.live_bricks(d)?.len();
        }
        self.commit(
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
            |tx| self.set_child(tx, &entry.id, None),
        )
    }

    /// Destroys bricks retired while their node was unreachable, on nodes
    /// that answer again (all nodes, or one). Returns how many went.
    pub async fn reap_retired_bricks(&self, node: Option<&str>) -> Result<usize, OpError> {
        let mut reaped = 0;
        let mut unreachable = std::collections::HashSet::new();
        for brick in self.store.scan::<BrickRecord>()? {
            if !brick.retired || node.is_some_and(|n| n != brick.node) {
                continue;
            }
            let host = self.node(&brick.node)?.manage_host().to_string();
            if unreachable.contains(&host) {
                continue;
            }
            let gid = self
                .store
                .get::<VolumeRecord>(&brick.volume)?
                .map(|v| v.gid)
                .unwrap_or(0);
            match self.executor.brick_destroy(&host, &brick_spec(&brick, gid)).await {
                Ok(reclaimed) => {
                    self.store
                        .transact(|tx| match tx.get::<BrickRecord, OpError>(&brick.id)? {
                            Some(b) if b.retired => drop_brick(tx, &b, reclaimed),
                            _ => Ok(()),
                        })?;
                    tracing::info!(brick = %brick.id, host = %host, "replaced brick removed from its node");
                    reaped += 1;
                }
                Err(e) => {
                    tracing::info!(brick = %brick.id, host = %host, error = %e, "replaced brick still awaits its node");
                    if e.unreachable {
                        unreachable.insert(host);
                    }
                }
            }
        }
        if reaped > 0 {
            self.flush().await?;
        }
        Ok(reaped)
    }
}
