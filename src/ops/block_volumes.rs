//! Block volumes: gluster-block LUNs on block-hosting volumes. They reach
//! the store from an imported Heketi database; clients read them here. A
//! block volume that an operation holds (pending) is hidden, as in Heketi.

use crate::store::records::BlockVolumeRecord;
use crate::store::TreeName;

use super::{Engine, OpError};

impl Engine {
    fn visible_block_volume(&self, id: &str) -> Result<Option<BlockVolumeRecord>, OpError> {
        Ok(self
            .store
            .get::<BlockVolumeRecord>(id)?
            .filter(|b| b.pending.is_empty()))
    }

    /// `GET /blockvolumes`: every visible block volume, in id order.
    pub fn list_block_volumes(&self) -> Result<Vec<String>, OpError> {
        Ok(self
            .store
            .scan::<BlockVolumeRecord>()?
            .into_iter()
            .filter(|b| b.pending.is_empty())
            .map(|b| b.id)
            .collect())
    }

    pub fn block_volume_info(&self, id: &str) -> Result<BlockVolumeRecord, OpError> {
        self.visible_block_volume(id)?.ok_or_else(OpError::id_not_found)
    }

    /// A cluster's visible block volumes.
    pub fn visible_block_volumes(&self, cluster: &str) -> Result<Vec<String>, OpError> {
        self.only_visible_block_volumes(self.store.children(TreeName::ClusterBlockVolumes, cluster)?)
    }

    /// `ids` without the block volumes clients may not see.
    pub fn only_visible_block_volumes(&self, ids: Vec<String>) -> Result<Vec<String>, OpError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if self.visible_block_volume(&id)?.is_some() {
                out.push(id);
            }
        }
        Ok(out)
    }
}
