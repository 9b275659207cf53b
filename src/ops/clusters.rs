//! Cluster create, info, flags and delete (all synchronous).

use crate::ids::new_id;
use crate::store::records::ClusterRecord;
use crate::store::{Abort, TreeName};

use super::{Engine, OpError};
use crate::store::views::ClusterView;

pub async fn create_cluster(engine: &Engine, block: bool, file: bool) -> Result<ClusterView, OpError> {
    let record = ClusterRecord {
        id: new_id(),
        block,
        file,
    };
    engine.store.transact(|tx| tx.put(&record))?;
    engine.flush().await?;
    Ok(ClusterView {
        record,
        nodes: vec![],
        volumes: bytes::Bytes::from_static(b"[]"),
        block_volumes: vec![],
    })
}

pub fn list_clusters(engine: &Engine) -> Result<Vec<String>, OpError> {
    Ok(engine.store.ids::<ClusterRecord>()?)
}

pub fn cluster_info(engine: &Engine, id: &str) -> Result<ClusterView, OpError> {
    let record = engine
        .store
        .get::<ClusterRecord>(id)?
        .ok_or_else(OpError::id_not_found)?;
    Ok(ClusterView {
        nodes: engine.store.children(TreeName::ClusterNodes, id)?,
        volumes: crate::ops::volumes::visible_volumes_json(engine, id)?,
        block_volumes: crate::ops::block_volumes::visible_block_volumes(engine, id)?,
        record,
    })
}

/// Overwrites both flags, as Heketi does.
pub async fn set_cluster_flags(engine: &Engine, id: &str, block: bool, file: bool) -> Result<(), OpError> {
    engine.store.transact(|tx| {
        let mut record = tx
            .get::<ClusterRecord, OpError>(id)?
            .ok_or(Abort::User(OpError::id_not_found()))?;
        record.block = block;
        record.file = file;
        tx.put(&record)
    })?;
    engine.flush().await
}

pub async fn delete_cluster(engine: &Engine, id: &str) -> Result<(), OpError> {
    engine.store.transact(|tx| {
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
    engine.flush().await
}
