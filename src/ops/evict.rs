//! Brick eviction: a brick is replaced by a new one on another device with
//! `gluster volume replace-brick ... commit force`.
//!
//! `replace-brick` is the point of no return: after it, an interrupted
//! replacement is finished (the old brick destroyed, the records switched);
//! before it, it is undone (the new brick destroyed and released). Which
//! side of it a replacement stopped on is read from gluster's own brick
//! list, never guessed.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::executor::ExecError;
use crate::ids::new_id;
use crate::placement::{self, Layout, Refusal, Replacement};
use crate::store::records::{BrickRecord, ClusterRecord, NodeRecord, QueueOutcome, VolumeRecord};
use crate::store::{Abort, TreeName, Tx};

use super::heal::judge_heal;
use super::journal::{Action, JournalEntry, JournalStatus};
use super::ledger::{self, Join};
use super::operation::{Change, ChangeKind, Direction, HeketiType, Operation};
use super::volumes::{brick_spec, layout_of, placed_brick, placement_request};
use super::{Engine, OpError};

/// Replaces one brick by a new one on another device. The old brick is
/// marked pending from the start; `new_brick` is recorded (stored,
/// pending, its space taken) once placed. Whether gluster has switched
/// (`replace-brick`, the point of no return) is read from gluster itself,
/// so an interrupted replacement is finished if it had switched and undone
/// if it had not.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EvictBrick {
    pub volume_id: String,
    pub old_brick: String,
    #[serde(default)]
    pub new_brick: Option<String>,
    pub heal_check: bool,
    /// The evacuation this replacement is one step of.
    #[serde(default)]
    pub parent: Option<String>,
}

#[async_trait]
impl Operation for EvictBrick {
    fn name(&self) -> &'static str {
        "evict-brick"
    }

    fn heketi_type(&self) -> Option<HeketiType> {
        Some(HeketiType::EvictBrick)
    }

    fn changes(&self) -> Vec<Change> {
        let mut out = vec![Change::new(&self.old_brick, ChangeKind::DeleteBrick)];
        out.extend(self.new_brick.iter().map(|b| Change::new(b, ChangeKind::AddBrick)));
        out.extend(self.parent.iter().map(|p| Change::new(p, ChangeKind::ParentOperation)));
        out
    }

    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
        run_eviction(engine, entry).await
    }

    /// Forward: a resumed eviction settles itself from gluster's brick list.
    async fn direction(&self, _engine: &Engine) -> Result<Direction, OpError> {
        Ok(Direction::Forward)
    }

    fn release(&self, tx: &Tx<'_>, entry: &JournalEntry) -> Result<(), Abort<OpError>> {
        release_eviction(tx, entry)
    }

    fn settled_from_gluster(&self) -> bool {
        true
    }
}

/// The eviction as stored now (its new brick may have been recorded).
fn evict_of(entry: &JournalEntry) -> Result<EvictBrick, OpError> {
    match &entry.action {
        Action::EvictBrick(evict) => Ok(evict.clone()),
        _ => Err(OpError::Internal(format!(
            "operation {} is not a brick eviction",
            entry.id
        ))),
    }
}

/// How often a replacement is placed again when the store changed under it.
const PLACE_ATTEMPTS: usize = 5;

/// Where an interrupted replacement ended up.
enum Settled {
    /// Gluster had switched: the replacement is complete and committed.
    Finished,
    /// Gluster had not switched: the new brick is gone, the old one kept.
    Undone,
}

fn failed(e: ExecError) -> OpError {
    OpError::Internal(e.to_string())
}

/// Marks a brick as being evicted, refusing when it or its volume is busy.
pub(crate) fn mark_for_eviction(
    tx: &Tx<'_>,
    brick_id: &str,
    siblings: &[String],
    op: &str,
) -> Result<(), Abort<OpError>> {
    let busy = |why: String| Abort::User(OpError::Internal(format!("Failed to set up brick eviction: {why}")));
    let mut brick = tx
        .get::<BrickRecord, OpError>(brick_id)?
        .ok_or(Abort::User(OpError::id_not_found()))?;
    if brick.retired {
        return Err(Abort::User(OpError::id_not_found()));
    }
    if brick.pending.is_some() {
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
    if volume.pending.is_some()
        || tx.child_count::<OpError>(TreeName::VolumeBricks, &volume.id)? != siblings.len() as u64
    {
        return Err(volume_busy());
    }
    for id in siblings.iter().chain(&volume.brick_order) {
        match tx.get::<BrickRecord, OpError>(id)? {
            Some(b) if b.pending.is_none() || b.id == brick_id => {}
            _ => return Err(volume_busy()),
        }
    }
    brick.pending = Some(op.to_string());
    tx.put(&brick)
}

/// Store-side undo of an eviction that never reached a node: the old
/// brick's marker cleared, a recorded new brick dropped with its space.
pub(crate) fn release_eviction(tx: &Tx<'_>, entry: &JournalEntry) -> Result<(), Abort<OpError>> {
    let Action::EvictBrick(EvictBrick {
        old_brick, new_brick, ..
    }) = &entry.action
    else {
        return Ok(());
    };
    if let Some(mut b) = tx.get::<BrickRecord, OpError>(old_brick)? {
        if b.pending.as_deref() == Some(entry.id.as_str()) {
            b.pending = None;
            tx.put(&b)?;
        }
    }
    if let Some(new) = new_brick {
        if let Some(b) = tx.get::<BrickRecord, OpError>(new)? {
            ledger::drop_brick(tx, &b, true)?;
        }
    }
    Ok(())
}

/// `POST /bricks/to-evict/{id}`.
pub async fn evict_brick(engine: &Arc<Engine>, brick_id: &str, heal_check: bool) -> Result<String, OpError> {
    let brick = engine
        .store
        .get::<BrickRecord>(brick_id)?
        .filter(|b| !b.retired)
        .ok_or_else(OpError::id_not_found)?;
    let volume = engine.store.get::<VolumeRecord>(&brick.volume)?.ok_or_else(|| {
        OpError::Internal(format!(
            "Failed to set up brick eviction: volume {} is gone",
            brick.volume
        ))
    })?;
    if layout_of(&volume.durability) == Layout::Distribute {
        return Err(OpError::Internal(format!(
            "Failed to set up brick eviction: replace brick is not supported for volume durability type {}",
            volume.durability.kind.as_str()
        )));
    }
    let permit = engine.throttle.acquire().await?;
    let siblings = engine.store.children(TreeName::VolumeBricks, &volume.id)?;
    let entry = JournalEntry::new(EvictBrick {
        volume_id: volume.id.clone(),
        old_brick: brick_id.to_string(),
        new_brick: None,
        heal_check,
        parent: None,
    });
    let op = entry.id.clone();
    engine
        .submit(entry, Some(permit), |tx| {
            mark_for_eviction(tx, brick_id, &siblings, &op)
        })
        .await
}

/// A manage host whose glusterd answers: the preferred node's, else the
/// first online node of the cluster that answers (Heketi's fallback).
async fn answering_host(engine: &Engine, preferred: Option<&NodeRecord>, cluster: &str) -> Result<String, OpError> {
    if let Some(node) = preferred {
        if engine.executor.glusterd_check(node.manage_host()).await.is_ok() {
            return Ok(node.manage_host().to_string());
        }
    }
    // Nodes the health monitor found down are asked last.
    for node in crate::ops::volumes::online_nodes_up_first(engine, cluster)? {
        if preferred.is_some_and(|p| p.id == node.id) {
            continue;
        }
        if engine.executor.glusterd_check(node.manage_host()).await.is_ok() {
            return Ok(node.manage_host().to_string());
        }
    }
    Err(OpError::Internal(format!(
        "No node of cluster {cluster} answers with glusterd running"
    )))
}

pub(crate) fn node_record(engine: &Engine, id: &str) -> Result<NodeRecord, OpError> {
    engine
        .store
        .get::<NodeRecord>(id)?
        .ok_or_else(|| OpError::Internal(format!("node {id} is missing from the store")))
}

fn brick_record(engine: &Engine, id: &str) -> Result<BrickRecord, OpError> {
    engine
        .store
        .get::<BrickRecord>(id)?
        .ok_or_else(|| OpError::Internal(format!("brick {id} is missing from the store")))
}

/// `storage host:path`, gluster's name for a brick.
fn gluster_name(engine: &Engine, brick: &BrickRecord) -> Result<String, OpError> {
    Ok(format!(
        "{}:{}",
        node_record(engine, &brick.node)?.storage_host(),
        brick.path
    ))
}

/// The old brick's set in gluster's order, and its position in it.
async fn brick_set(
    engine: &Engine,
    host: &str,
    volume: &VolumeRecord,
    old: &BrickRecord,
) -> Result<(Vec<BrickRecord>, usize), OpError> {
    let names = engine
        .executor
        .volume_bricks(host, &volume.name)
        .await
        .map_err(failed)?
        .ok_or_else(|| OpError::Internal(format!("Gluster has no volume {}", volume.name)))?;
    let mut by_name: HashMap<String, BrickRecord> = HashMap::new();
    for id in engine.store.children(TreeName::VolumeBricks, &volume.id)? {
        let b = brick_record(engine, &id)?;
        by_name.insert(gluster_name(engine, &b)?, b);
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
    engine: &Engine,
    host: &str,
    volume: &VolumeRecord,
    set: &[BrickRecord],
    index: usize,
) -> Result<(), OpError> {
    let entries = engine
        .executor
        .heal_info(host, &volume.name)
        .await
        .map_err(|e| OpError::Internal(format!("Unable to get heal info of volume : {} : {e}", volume.name)))?;
    let mut names = HashMap::new();
    for b in set {
        names.insert(gluster_name(engine, b)?, b.id.clone());
    }
    judge_heal(&entries, &names, &set[index].id, layout_of(&volume.durability))
}

/// Places the new brick and records it (pending, space taken) on the
/// journal entry, in one transaction.
fn allocate_replacement(
    engine: &Engine,
    entry: &JournalEntry,
    volume: &VolumeRecord,
    set: &[BrickRecord],
    index: usize,
) -> Result<BrickRecord, OpError> {
    let old = &set[index];
    let cluster = engine
        .store
        .get::<ClusterRecord>(&volume.cluster)?
        .ok_or_else(|| OpError::Internal(format!("cluster {} is gone", volume.cluster)))?;
    let request = placement_request(volume, volume.size_gib, 0, &engine.settings.limits)?;
    let mut others = Vec::new();
    for (i, b) in set.iter().enumerate() {
        if i != index {
            others.push((b.node.clone(), node_record(engine, &b.node)?.zone));
        }
    }
    let replacement = Replacement {
        old_device: old.device.clone(),
        others,
        size_kib: old.size,
        arbiter: old.sub_type == crate::store::records::BrickRole::Arbiter,
    };
    for _ in 0..PLACE_ATTEMPTS {
        let slot = crate::ops::volumes::cluster_slot(engine, &cluster)?;
        let planned = match placement::place_replacement(&slot, &request, &replacement, new_id()) {
            Ok(p) => p,
            Err(Refusal::NoSpace(why)) => return Err(OpError::NoReplacement(why)),
            Err(other) => return Err(OpError::Internal(other.to_string())),
        };
        // The replacement has the old brick's role (placement kept it).
        let brick = placed_brick(&planned, &volume.id, Some(entry.id.clone()));
        let recorded = engine.store.transact(|tx| {
            let mut stored = tx
                .get::<JournalEntry, OpError>(&entry.id)?
                .ok_or(Abort::User(OpError::Conflict("operation is no longer pending".into())))?;
            let Action::EvictBrick(EvictBrick { new_brick, .. }) = &mut stored.action else {
                return Err(Abort::User(OpError::Internal("not a brick eviction".into())));
            };
            if new_brick.is_some() {
                return Err(Abort::User(OpError::Internal(format!(
                    "operation {} already has a replacement brick",
                    entry.id
                ))));
            }
            *new_brick = Some(brick.id.clone());
            // Joins its volume only when gluster has it.
            ledger::add_brick(tx, &brick, Join::DeviceOnly)?;
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
pub(crate) async fn run_eviction(engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
    if entry.status != JournalStatus::New {
        return match settle_eviction(engine, entry).await? {
            Settled::Finished => Ok(()),
            Settled::Undone => engine.commit(
                entry,
                QueueOutcome::Failed(format!(
                    "brick eviction {} was interrupted before gluster switched bricks; undone",
                    entry.id
                )),
                |_| Ok(()),
            ),
        };
    }
    match evict_forward(engine, entry).await {
        Ok(()) => Ok(()),
        Err(stuck @ OpError::Incomplete(_)) => Err(stuck),
        Err(error) => match settle_eviction(engine, entry).await {
            Ok(Settled::Finished) => Ok(()),
            Ok(Settled::Undone) => Err(error),
            Err(stuck) => Err(OpError::Incomplete(format!("{error}; and settling it failed: {stuck}"))),
        },
    }
}

async fn evict_forward(engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
    let evict = evict_of(entry)?;
    let volume = engine
        .store
        .get::<VolumeRecord>(&evict.volume_id)?
        .ok_or_else(|| OpError::Internal(format!("volume {} is gone", evict.volume_id)))?;
    if layout_of(&volume.durability) == Layout::Distribute {
        return Err(OpError::Internal(format!(
            "replace brick is not supported for volume durability type none (volume {})",
            volume.name
        )));
    }
    let old = brick_record(engine, &evict.old_brick)?;
    let old_node = node_record(engine, &old.node)?;
    let host = answering_host(engine, Some(&old_node), &volume.cluster).await?;
    let (set, index) = brick_set(engine, &host, &volume, &old).await?;
    if evict.heal_check {
        check_heal(engine, &host, &volume, &set, index).await?;
    }
    let new = allocate_replacement(engine, entry, &volume, &set, index)?;
    // The new brick is on disk in the journal before it exists on a node.
    engine.flush().await?;
    let new_node = node_record(engine, &new.node)?;
    engine
        .executor
        .brick_create(new_node.manage_host(), &brick_spec(&new, volume.gid))
        .await
        .map_err(failed)?;
    let host = answering_host(engine, Some(&new_node), &volume.cluster).await?;
    let (old_name, new_name) = (gluster_name(engine, &old)?, gluster_name(engine, &new)?);
    tracing::info!(volume = %volume.name, old = %old_name, new = %new_name, "replacing brick");
    if let Err(e) = engine
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
        if e.unreachable || e.timed_out {
            return Err(OpError::Incomplete(why));
        }
        return Err(OpError::Internal(why));
    }
    // Heal the new brick now, not at the engine-heal daemon's next crawl
    // (up to ten minutes away), so the next replacement's heal check
    // can pass sooner.
    if let Err(e) = engine.executor.heal_start(&host, &volume.name).await {
        tracing::info!(volume = %volume.name, error = %e, "starting a heal failed; the engine-heal daemon will get to it");
    }
    finish_eviction(engine, entry, &volume, &old, &new).await
}

/// After gluster switched: the old brick goes (or waits for its node),
/// the new one joins the volume in the old one's place.
async fn finish_eviction(
    engine: &Engine,
    entry: &JournalEntry,
    volume: &VolumeRecord,
    old: &BrickRecord,
    new: &BrickRecord,
) -> Result<(), OpError> {
    let old_host = node_record(engine, &old.node)?.manage_host().to_string();
    let retire = match engine
        .executor
        .brick_destroy(&old_host, &brick_spec(old, volume.gid))
        .await
    {
        Ok(reclaimed) => Some(reclaimed),
        Err(e) => {
            if engine.executor.glusterd_check(&old_host).await.is_ok() {
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
    engine.commit(entry, QueueOutcome::NoContent, |tx| {
        match (tx.get::<BrickRecord, OpError>(&old.id)?, retire) {
            (None, _) => {}
            (Some(old), Some(reclaimed)) => ledger::drop_brick(tx, &old, reclaimed)?,
            (Some(mut old), None) => {
                tx.unlink(TreeName::VolumeBricks, &old.volume, &old.id)?;
                old.retired = true;
                old.pending = None;
                tx.put(&old)?;
                super::retired::count_retirement(tx)?;
            }
        }
        let mut new = tx
            .get::<BrickRecord, OpError>(&new.id)?
            .ok_or(Abort::User(OpError::Internal(format!("new brick {} is gone", new.id))))?;
        new.pending = None;
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
async fn settle_eviction(engine: &Engine, entry: &JournalEntry) -> Result<Settled, OpError> {
    let Some(stored) = engine.store.get::<JournalEntry>(&entry.id)? else {
        return Ok(Settled::Finished);
    };
    let evict = evict_of(&stored)?;
    let release_old = |tx: &Tx<'_>| -> Result<(), Abort<OpError>> {
        if let Some(mut b) = tx.get::<BrickRecord, OpError>(&evict.old_brick)? {
            if b.pending.as_deref() == Some(entry.id.as_str()) {
                b.pending = None;
                tx.put(&b)?;
            }
        }
        Ok(())
    };
    let Some(new_id) = evict.new_brick.clone() else {
        engine.store.transact(release_old)?;
        return Ok(Settled::Undone);
    };
    let volume = engine
        .store
        .get::<VolumeRecord>(&evict.volume_id)?
        .ok_or_else(|| OpError::Internal(format!("volume {} is gone", evict.volume_id)))?;
    let old = brick_record(engine, &evict.old_brick)?;
    let new = brick_record(engine, &new_id)?;
    let host = answering_host(engine, None, &volume.cluster).await?;
    let names = engine
        .executor
        .volume_bricks(&host, &volume.name)
        .await
        .map_err(failed)?
        .ok_or_else(|| OpError::Internal(format!("Gluster has no volume {}", volume.name)))?;
    let (old_name, new_name) = (gluster_name(engine, &old)?, gluster_name(engine, &new)?);
    if names.contains(&new_name) {
        tracing::info!(op = %entry.id, "gluster has the new brick: finishing the replacement");
        finish_eviction(engine, &stored, &volume, &old, &new).await?;
        return Ok(Settled::Finished);
    }
    if !names.contains(&old_name) {
        return Err(OpError::Incomplete(format!(
            "Gluster volume {} lists neither brick {old_name} nor its replacement {new_name}",
            volume.name
        )));
    }
    let new_host = node_record(engine, &new.node)?.manage_host().to_string();
    let reclaimed = engine
        .executor
        .brick_destroy(&new_host, &brick_spec(&new, volume.gid))
        .await
        .map_err(|e| OpError::Incomplete(format!("cannot remove the unused replacement brick: {e}")))?;
    engine.store.transact(|tx| {
        if let Some(b) = tx.get::<BrickRecord, OpError>(&new.id)? {
            ledger::drop_brick(tx, &b, reclaimed)?;
        }
        if let Some(mut stored) = tx.get::<JournalEntry, OpError>(&entry.id)? {
            if let Action::EvictBrick(EvictBrick { new_brick, .. }) = &mut stored.action {
                *new_brick = None;
            }
            tx.put(&stored)?;
        }
        release_old(tx)
    })?;
    Ok(Settled::Undone)
}
