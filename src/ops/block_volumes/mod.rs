//! Block volumes: gluster-block LUNs on block-hosting volumes. This file
//! is the read side (a block volume an operation creates or deletes is
//! hidden, as in Heketi) and what the operations share: the hosting
//! volume's books (its block volume list and free size), the node to run
//! gluster-block on. One file per operation: `create` (with the choice or
//! automatic creation of a hosting volume), `delete`, `expand`.

mod create;
mod delete;
mod expand;

use crate::store::records::{BlockVolumeRecord, VolumeRecord};
use crate::store::{Abort, TreeName, Tx};

use super::{Engine, OpError};

pub use create::{create_block_volume, BlockVolumeCreate, CreateBlockVolume};
pub use delete::{delete_block_volume, DeleteBlockVolume};
pub use expand::{expand_block_volume, ExpandBlockVolume};

fn visible_block_volume(engine: &Engine, id: &str) -> Result<Option<BlockVolumeRecord>, OpError> {
    Ok(engine
        .store
        .get::<BlockVolumeRecord>(id)?
        .filter(|b| b.pending.is_none()))
}

/// `GET /blockvolumes`: every visible block volume, in id order.
pub fn list_block_volumes(engine: &Engine) -> Result<Vec<String>, OpError> {
    Ok(engine
        .store
        .scan::<BlockVolumeRecord>()?
        .into_iter()
        .filter(|b| b.pending.is_none())
        .map(|b| b.id)
        .collect())
}

pub fn block_volume_info(engine: &Engine, id: &str) -> Result<BlockVolumeRecord, OpError> {
    visible_block_volume(engine, id)?.ok_or_else(OpError::id_not_found)
}

/// A cluster's visible block volumes.
pub fn visible_block_volumes(engine: &Engine, cluster: &str) -> Result<Vec<String>, OpError> {
    only_visible_block_volumes(engine, engine.store.children(TreeName::ClusterBlockVolumes, cluster)?)
}

/// `ids` without the block volumes clients may not see.
pub fn only_visible_block_volumes(engine: &Engine, ids: Vec<String>) -> Result<Vec<String>, OpError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if visible_block_volume(engine, &id)?.is_some() {
            out.push(id);
        }
    }
    Ok(out)
}

/// Heketi's conflict text, for a block volume (or its hosting volume) in
/// another operation.
fn in_use() -> OpError {
    OpError::Internal("The target exists, contains other items, or is in use.".into())
}

/// A stored record an operation needs, gone from under it.
fn missing(what: &str, id: &str) -> OpError {
    OpError::Internal(format!("{what} {id} is missing from the store"))
}

fn block_volume(engine: &Engine, id: &str) -> Result<BlockVolumeRecord, OpError> {
    engine
        .store
        .get::<BlockVolumeRecord>(id)?
        .ok_or_else(|| missing("block volume", id))
}

fn hosting_volume(engine: &Engine, id: &str) -> Result<VolumeRecord, OpError> {
    engine
        .store
        .get::<VolumeRecord>(id)?
        .ok_or_else(|| missing("block-hosting volume", id))
}

/// The manage hostname of a node of `cluster` whose glusterd answers
/// (Heketi's verified host), to run gluster-block on.
async fn block_exec_host(engine: &Engine, cluster: &str) -> Result<String, OpError> {
    match crate::ops::nodes::verified_peer(engine, cluster, None).await? {
        Some(node) => Ok(node.manage_host().to_string()),
        None => Err(OpError::Internal(format!(
            "No node of cluster {cluster} answers with glusterd running"
        ))),
    }
}

/// Changes a hosting volume's free size by `delta` GiB, refusing to take
/// more than it has.
fn change_free_size(volume: &mut VolumeRecord, delta: i64) -> Result<(), Abort<OpError>> {
    let free = volume.blockinfo.free_gib + delta;
    if free < 0 {
        return Err(Abort::User(OpError::Internal("No space".into())));
    }
    volume.blockinfo.free_gib = free;
    Ok(())
}

/// Takes a block volume out of the store: its cluster link, its place in
/// the hosting volume's list and, with `give_back`, its size back to the
/// hosting volume's free size.
fn remove_block_volume(tx: &Tx<'_>, block: &BlockVolumeRecord, give_back: bool) -> Result<(), Abort<OpError>> {
    tx.unlink(TreeName::ClusterBlockVolumes, &block.cluster, &block.id)?;
    if let Some(mut hosting) = tx.get::<VolumeRecord, OpError>(&block.hosting_volume)? {
        hosting.blockinfo.block_volumes.retain(|b| *b != block.id);
        if give_back {
            change_free_size(&mut hosting, block.size_gib as i64)?;
        }
        tx.put(&hosting)?;
    }
    tx.remove::<BlockVolumeRecord, OpError>(&block.id)
}
