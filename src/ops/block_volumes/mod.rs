//! Block volumes: gluster-block LUNs on block-hosting volumes. They reach
//! the store from an imported Heketi database; clients read them here. A
//! block volume that an operation holds (pending) is hidden, as in Heketi.
//!
//! Creating them answers 501 for now. When it comes, the host a block
//! volume is exported from must be chosen as Heketi did: online nodes of
//! the hosting volume's cluster the health monitor has not found down
//! (`engine.health`, as `volumes::online_nodes_up_first` orders them).

use crate::store::records::BlockVolumeRecord;
use crate::store::TreeName;

use super::{Engine, OpError};

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
