//! Cluster create, info, flags and delete (all synchronous).

use crate::ids::new_id;
use crate::store::records::ClusterRecord;
use crate::store::{Abort, TreeName};

use super::{Engine, OpError};

/// A cluster with its member ids, as info responses need it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    pub record: ClusterRecord,
    pub nodes: Vec<String>,
    pub volumes: Vec<String>,
    pub block_volumes: Vec<String>,
}

impl Engine {
    pub async fn create_cluster(&self, block: bool, file: bool) -> Result<ClusterView, OpError> {
        let record = ClusterRecord {
            id: new_id(),
            block,
            file,
        };
        self.store.transact(|tx| tx.put(&record))?;
        self.flush().await?;
        Ok(ClusterView {
            record,
            nodes: vec![],
            volumes: vec![],
            block_volumes: vec![],
        })
    }

    pub fn list_clusters(&self) -> Result<Vec<String>, OpError> {
        Ok(self.store.ids::<ClusterRecord>()?)
    }

    pub fn cluster_info(&self, id: &str) -> Result<ClusterView, OpError> {
        let record = self.store.get::<ClusterRecord>(id)?.ok_or_else(OpError::id_not_found)?;
        Ok(ClusterView {
            nodes: self.store.children(TreeName::ClusterNodes, id)?,
            volumes: self.visible_volumes(id)?,
            block_volumes: self.visible_block_volumes(id)?,
            record,
        })
    }

    /// Overwrites both flags, as Heketi does.
    pub async fn set_cluster_flags(&self, id: &str, block: bool, file: bool) -> Result<(), OpError> {
        self.store.transact(|tx| {
            let mut record = tx
                .get::<ClusterRecord, OpError>(id)?
                .ok_or(Abort::User(OpError::id_not_found()))?;
            record.block = block;
            record.file = file;
            tx.put(&record)
        })?;
        self.flush().await
    }

    pub async fn delete_cluster(&self, id: &str) -> Result<(), OpError> {
        self.store.transact(|tx| {
            if tx.get::<ClusterRecord, OpError>(id)?.is_none() {
                return Err(Abort::User(OpError::id_not_found()));
            }
            if tx.has_children(TreeName::ClusterNodes, id)? || tx.has_children(TreeName::ClusterVolumes, id)? {
                return Err(Abort::User(OpError::Conflict(format!(
                    "Unable to delete cluster [{id}] because it contains volumes and/or nodes"
                ))));
            }
            tx.remove::<ClusterRecord, OpError>(id)
        })?;
        self.flush().await
    }
}
