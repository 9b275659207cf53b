//! Volumes: the read side (what clients may see), what the volume
//! operations share (brick lookups, the reservation of a volume record and
//! its name, the "busy" rule), and one file per operation: `create`,
//! `delete`, `expand`, `clone`, `restriction`. `plan` turns requests into
//! placements; `on_nodes` is what they run on the storage nodes.
//!
//! Each operation is planned over a snapshot of the store, journalled with
//! its reservations (bricks, device space, name) in one transaction,
//! executed on the nodes, then committed. The reservation transaction
//! re-checks every device's free space (`ledger::add_brick`), so concurrent
//! creates never double-allocate without a global lock; a changed device
//! sends the request back to planning.

mod clone;
mod create;
mod delete;
mod expand;
mod on_nodes;
mod plan;
mod restriction;

use std::collections::HashMap;

use crate::store::records::{BrickRecord, EntityState, NodeRecord, VolumeRecord};
use crate::store::{Abort, TreeName, Tx};

use super::ledger;
use super::{Engine, OpError};
use crate::store::views::VolumeView;
use crate::wire::volumes::IdListWriter;

pub use clone::{clone_volume, CloneVolume};
pub use create::{create_volume, CreateVolume, DurabilityRequest, VolumeCreate};
pub(crate) use create::{make_volume, prepare_create};
pub use delete::{delete_volume, DeleteVolume};
pub use expand::{expand_volume, ExpandVolume};
pub(crate) use on_nodes::undo_volume;
pub(crate) use plan::{
    brick_spec, cluster_slot, layout_of, new_bricks, placed_brick, placement_request, plan_create_for,
};
pub use restriction::set_block_restriction;

/// The name of the volume holding Heketi's own database.
pub const DB_VOLUME: &str = "heketidbstorage";

pub(crate) fn volume_name_key(cluster: &str, name: &str) -> String {
    format!("{cluster}/{name}")
}

pub(crate) fn in_use(what: &str) -> OpError {
    OpError::Internal(format!(
        "{what}: The target exists, contains other items, or is in use."
    ))
}

/// Storage hostnames of every node of the cluster, in node-id order.
pub fn mount_hosts(engine: &Engine, cluster: &str) -> Result<Vec<String>, OpError> {
    Ok(engine
        .store
        .children(TreeName::ClusterNodes, cluster)?
        .iter()
        .filter_map(|n| engine.store.get::<NodeRecord>(n).ok().flatten())
        .map(|n| n.storage_host().to_string())
        .collect())
}

pub fn brick_exists(engine: &Engine, id: &str) -> Result<bool, OpError> {
    Ok(engine.store.get::<BrickRecord>(id)?.is_some())
}

/// `GET /volumes`'s body: the volumes clients may see, in id order, as
/// the JSON list and its closing newline; kept while no volume appears or
/// goes (`Store::rendered`).
pub fn volume_list(engine: &Engine) -> Result<bytes::Bytes, OpError> {
    let store = &engine.store;
    Ok(store.rendered(TreeName::VisibleVolumes, "", &mut || {
        let mut out = IdListWriter::volume_list();
        store.visit_index_keys(TreeName::VisibleVolumes, &mut |id| out.push(id))?;
        let mut body = out.finish();
        body.push(b'\n');
        Ok(body)
    })?)
}

/// Volumes of a cluster that clients may see, in id order, as a JSON
/// array: one walk of the visible-volume index, whose values name each
/// volume's cluster, kept while no volume appears or goes
/// (`Store::rendered`). On sled the index is in memory; reading the
/// cluster's links and then the index once per volume took 5-10 ms for
/// 5,000 volumes, and on etcd a round trip per volume.
pub fn visible_volumes_json(engine: &Engine, cluster: &str) -> Result<bytes::Bytes, OpError> {
    let store = &engine.store;
    Ok(store.rendered(TreeName::VisibleVolumes, cluster, &mut || {
        let mut out = IdListWriter::array();
        store.visit_index(TreeName::VisibleVolumes, &mut |id, of| {
            if of == cluster {
                out.push(id);
            }
        })?;
        Ok(out.finish())
    })?)
}

/// How many volumes clients may see in each cluster, in one walk.
pub fn visible_volume_counts(engine: &Engine) -> Result<HashMap<String, usize>, OpError> {
    let mut out = HashMap::new();
    engine
        .store
        .visit_index(TreeName::VisibleVolumes, &mut |_, of| match out.get_mut(of) {
            Some(n) => *n += 1,
            None => {
                out.insert(of.to_owned(), 1);
            }
        })?;
    Ok(out)
}

pub(crate) fn visible_volume(engine: &Engine, id: &str) -> Result<VolumeRecord, OpError> {
    let volume = engine
        .store
        .get::<VolumeRecord>(id)?
        .ok_or_else(OpError::id_not_found)?;
    if volume.pending.is_some() {
        return Err(OpError::id_not_found());
    }
    Ok(volume)
}

pub(crate) fn volume_bricks(engine: &Engine, volume: &str) -> Result<Vec<BrickRecord>, OpError> {
    let mut out = Vec::new();
    for id in engine.store.children(TreeName::VolumeBricks, volume)? {
        if let Some(b) = engine.store.get::<BrickRecord>(&id)? {
            out.push(b);
        }
    }
    Ok(out)
}

pub fn volume_info(engine: &Engine, id: &str) -> Result<VolumeView, OpError> {
    let mut record = visible_volume(engine, id)?;
    record.blockinfo.block_volumes = crate::ops::block_volumes::only_visible_block_volumes(
        engine,
        std::mem::take(&mut record.blockinfo.block_volumes),
    )?;
    Ok(VolumeView {
        bricks: volume_bricks(engine, id)?,
        hosts: mount_hosts(engine, &record.cluster)?,
        record,
    })
}

/// Manage and storage hostnames of a node.
pub(crate) fn hosts_of(engine: &Engine, node: &str) -> Result<(String, String), OpError> {
    let n = engine
        .store
        .get::<NodeRecord>(node)?
        .ok_or_else(|| OpError::Internal(format!("node {node} of a brick is gone")))?;
    Ok((n.manage_host().to_string(), n.storage_host().to_string()))
}

/// Bricks in the given order.
pub(crate) fn bricks_by_id(engine: &Engine, ids: &[String]) -> Result<Vec<BrickRecord>, OpError> {
    ids.iter()
        .map(|id| {
            engine
                .store
                .get::<BrickRecord>(id)?
                .ok_or_else(|| OpError::Internal(format!("brick {id} is missing from the store")))
        })
        .collect()
}

/// The cluster's online nodes, those the health monitor found down last:
/// the order "try on hosts" goes through them.
pub(crate) fn online_nodes_up_first(engine: &Engine, cluster: &str) -> Result<Vec<NodeRecord>, OpError> {
    let mut nodes = Vec::new();
    for node_id in engine.store.children(TreeName::ClusterNodes, cluster)? {
        if let Some(node) = engine.store.get::<NodeRecord>(&node_id)? {
            if node.state == EntityState::Online {
                nodes.push(node);
            }
        }
    }
    engine.health.up_first(&mut nodes);
    Ok(nodes)
}

/// A node of the cluster to run gluster commands on: the first online one
/// not found down by the health monitor, else the first online one.
pub(crate) fn gluster_host(engine: &Engine, cluster: &str) -> Result<String, OpError> {
    online_nodes_up_first(engine, cluster)?
        .first()
        .map(|n| n.manage_host().to_string())
        .ok_or_else(|| OpError::NoGlusterNode(cluster.to_string()))
}

impl VolumeRecord {
    fn blockinfo_has_no_block_volumes(&self) -> bool {
        self.blockinfo.block_volumes.is_empty()
    }
}

/// Whether a volume is part of another operation: marked pending (being
/// deleted or cloned), a brick of it pending or retired (an eviction), or
/// bricks linked to it beyond `linked`, the links read before the
/// transaction (an expansion's new bricks, listed only at its commit).
pub(crate) fn volume_busy(tx: &Tx<'_>, volume: &VolumeRecord, linked: &[String]) -> Result<bool, Abort<OpError>> {
    if volume.pending.is_some()
        || tx.child_count::<OpError>(TreeName::VolumeBricks, &volume.id)? != linked.len() as u64
        || bricks_busy(tx, linked)?
    {
        return Ok(true);
    }
    bricks_busy(tx, &volume.brick_order)
}

/// Whether any of the bricks is missing, retired, or part of an operation
/// (an eviction marks only the brick it replaces).
pub(crate) fn bricks_busy(tx: &Tx<'_>, ids: &[String]) -> Result<bool, Abort<OpError>> {
    for id in ids {
        match tx.get::<BrickRecord, OpError>(id)? {
            Some(b) if b.pending.is_none() && !b.retired => {}
            _ => return Ok(true),
        }
    }
    Ok(false)
}

pub(crate) fn marked_pending(bricks: Vec<BrickRecord>, op: &str) -> Vec<BrickRecord> {
    bricks
        .into_iter()
        .map(|b| BrickRecord {
            pending: Some(op.to_string()),
            ..b
        })
        .collect()
}

/// The volume record, its cluster link and its name, re-checking the name
/// and the per-cluster limit inside the transaction.
pub(crate) fn reserve_volume(tx: &Tx<'_>, volume: &VolumeRecord, max: Option<u64>) -> Result<(), Abort<OpError>> {
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

/// Clears the pending marker of a volume (if given) and of bricks.
pub(crate) fn clear_pending(tx: &Tx<'_>, volume: Option<&str>, brick_ids: &[String]) -> Result<(), Abort<OpError>> {
    if let Some(volume_id) = volume {
        if let Some(mut v) = tx.get::<VolumeRecord, OpError>(volume_id)? {
            v.pending = None;
            tx.put(&v)?;
        }
    }
    for id in brick_ids {
        if let Some(mut b) = tx.get::<BrickRecord, OpError>(id)? {
            b.pending = None;
            tx.put(&b)?;
        }
    }
    Ok(())
}

pub(crate) fn drop_volume(tx: &Tx<'_>, volume: &VolumeRecord) -> Result<(), Abort<OpError>> {
    tx.unlink(TreeName::ClusterVolumes, &volume.cluster, &volume.id)?;
    let key = volume_name_key(&volume.cluster, &volume.name);
    if tx.index_get::<OpError>(TreeName::VolumeNames, &key)?.as_deref() == Some(volume.id.as_str()) {
        tx.index_remove(TreeName::VolumeNames, &key)?;
    }
    tx.index_remove(TreeName::VisibleVolumes, &volume.id)?;
    tx.remove::<VolumeRecord, OpError>(&volume.id)
}

/// Store-side undo of a create or clone: bricks, space, names, volume.
pub(crate) fn release_volume(tx: &Tx<'_>, volume_id: &str, brick_ids: &[String]) -> Result<(), Abort<OpError>> {
    ledger::drop_bricks(tx, brick_ids)?;
    if let Some(v) = tx.get::<VolumeRecord, OpError>(volume_id)? {
        drop_volume(tx, &v)?;
    }
    Ok(())
}

/// Store-side undo of a delete that never reached gluster (or of a clone,
/// for its source): visible again.
pub(crate) fn unmark_volume(tx: &Tx<'_>, volume_id: &str, brick_ids: &[String]) -> Result<(), Abort<OpError>> {
    if let Some(mut v) = tx.get::<VolumeRecord, OpError>(volume_id)? {
        v.pending = None;
        tx.index_put(TreeName::VisibleVolumes, volume_id, &v.cluster)?;
        tx.put(&v)?;
    }
    clear_pending(tx, None, brick_ids)
}
