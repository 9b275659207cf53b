//! Block volume delete: the block volume marked pending (hidden), then
//! `gluster-block delete` (a block volume already gone counts as deleted),
//! then it leaves the store and its size goes back to the hosting
//! volume's free size. Every step can be repeated, so recovery finishes
//! it. The hosting volume stays, as in Heketi.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::store::records::{BlockVolumeRecord, QueueOutcome};
use crate::store::{Abort, Tx};

use super::{block_exec_host, hosting_volume, in_use, remove_block_volume};
use crate::ops::journal::JournalEntry;
use crate::ops::operation::{Change, ChangeKind, Direction, HeketiType, Operation};
use crate::ops::{Engine, OpError};

const SET_UP: &str = "Failed to set up block volume delete";

pub async fn delete_block_volume(engine: &Arc<Engine>, id: &str) -> Result<String, OpError> {
    engine
        .store
        .get::<BlockVolumeRecord>(id)?
        .ok_or_else(OpError::id_not_found)?;
    let permit = engine.throttle.acquire().await?;
    let entry = JournalEntry::new(DeleteBlockVolume {
        block_volume_id: id.to_string(),
    });
    let op = entry.id.clone();
    engine
        .submit(entry, Some(permit), |tx| {
            let mut block = tx
                .get::<BlockVolumeRecord, OpError>(id)?
                .ok_or(Abort::User(OpError::id_not_found()))?;
            if block.pending.is_some() || block.expanding.is_some() {
                return Err(Abort::User(OpError::Internal(format!("{SET_UP}: {}", in_use()))));
            }
            block.pending = Some(op.clone());
            tx.put(&block)
        })
        .await
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DeleteBlockVolume {
    pub block_volume_id: String,
}

#[async_trait]
impl Operation for DeleteBlockVolume {
    fn name(&self) -> &'static str {
        "delete-block-volume"
    }

    fn heketi_type(&self) -> Option<HeketiType> {
        Some(HeketiType::DeleteBlockVolume)
    }

    fn changes(&self) -> Vec<Change> {
        vec![Change::new(&self.block_volume_id, ChangeKind::DeleteBlockVolume)]
    }

    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
        let Some(block) = engine.store.get::<BlockVolumeRecord>(&self.block_volume_id)? else {
            return engine.commit(entry, QueueOutcome::NoContent, |_| Ok(()));
        };
        let hosting = hosting_volume(engine, &block.hosting_volume)?;
        let host = block_exec_host(engine, &hosting.cluster).await?;
        engine
            .executor
            .block_volume_delete(&host, &hosting.name, &block.name)
            .await?;
        engine.commit(entry, QueueOutcome::NoContent, |tx| {
            match tx.get::<BlockVolumeRecord, OpError>(&block.id)? {
                Some(stored) => remove_block_volume(tx, &stored, true),
                None => Ok(()),
            }
        })
    }

    /// Forward: deleting again is harmless (gone counts as deleted).
    async fn direction(&self, _engine: &Engine) -> Result<Direction, OpError> {
        Ok(Direction::Forward)
    }

    /// A delete that failed leaves the block volume as it was (Heketi's
    /// rollback): visible again.
    fn release(&self, tx: &Tx<'_>, _entry: &JournalEntry) -> Result<(), Abort<OpError>> {
        if let Some(mut block) = tx.get::<BlockVolumeRecord, OpError>(&self.block_volume_id)? {
            block.pending = None;
            tx.put(&block)?;
        }
        Ok(())
    }
}
