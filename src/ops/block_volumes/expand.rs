//! Block volume expand to a new total size, with Heketi's checks in its
//! order: the hosting volume's free size taken for the growth, then
//! `gluster-block modify … size`. Whether the resize happened is read from
//! `gluster-block info` when the modify fails or a crash cut it off: at
//! the new size, the new size is kept (a failed modify still reports its
//! failure, as Heketi's rollback did); below it, the growth is given back.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::executor::BlockVolumeReport;
use crate::store::records::{BlockVolumeRecord, QueueOutcome, VolumeRecord};
use crate::store::{Abort, Tx};

use super::{block_exec_host, block_volume, change_free_size, hosting_volume, in_use};
use crate::ops::journal::{JournalEntry, JournalStatus};
use crate::ops::operation::{Change, ChangeKind, Direction, HeketiType, Operation};
use crate::ops::{Engine, OpError};

const ALLOCATE: &str = "Failed to allocate block volume expansion";

fn refused(why: impl std::fmt::Display) -> Abort<OpError> {
    Abort::User(OpError::Internal(format!("{ALLOCATE}: {why}")))
}

pub async fn expand_block_volume(engine: &Arc<Engine>, id: &str, new_size_gib: u64) -> Result<String, OpError> {
    let block = engine
        .store
        .get::<BlockVolumeRecord>(id)?
        .ok_or_else(OpError::id_not_found)?;
    let permit = engine.throttle.acquire().await?;
    let size = block.size_gib;
    let growth = new_size_gib.saturating_sub(size);
    let entry = JournalEntry::new(ExpandBlockVolume {
        block_volume_id: id.to_string(),
        new_size_gib,
        growth_gib: growth,
    });
    let op = entry.id.clone();
    engine
        .submit(entry, Some(permit), |tx| {
            let mut block = tx
                .get::<BlockVolumeRecord, OpError>(id)?
                .ok_or(Abort::User(OpError::id_not_found()))?;
            // Another operation holds it, or changed its size since it was read.
            if block.pending.is_some() || block.expanding.is_some() || block.size_gib != size {
                return Err(refused(in_use()));
            }
            let mut hosting = tx
                .get::<VolumeRecord, OpError>(&block.hosting_volume)?
                .ok_or(refused(OpError::id_not_found()))?;
            if hosting.pending.is_some() {
                return Err(refused(in_use()));
            }
            if new_size_gib == size && block.usable_size_gib == size {
                return Err(refused(format!(
                    "Requested new-size {new_size_gib} is same as current block volume size {size}, nothing to be done."
                )));
            }
            if new_size_gib < size {
                return Err(refused(format!(
                    "Requested new-size {new_size_gib} is less than current block volume size {size}, shrinking is not allowed."
                )));
            }
            if hosting.blockinfo.free_gib < growth as i64 {
                return Err(refused("No space"));
            }
            change_free_size(&mut hosting, -(growth as i64))?;
            tx.put(&hosting)?;
            block.expanding = Some(op.clone());
            tx.put(&block)
        })
        .await
}

/// The hosting volume's free size is taken for the growth and the block
/// volume marked as expanding (it stays visible, as in Heketi).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ExpandBlockVolume {
    pub block_volume_id: String,
    pub new_size_gib: u64,
    /// Taken from the hosting volume's free size (0 when only the usable
    /// size lagged behind the size).
    pub growth_gib: u64,
}

impl ExpandBlockVolume {
    /// What gluster-block reports of the block volume now.
    async fn report(&self, engine: &Engine) -> Result<Option<BlockVolumeReport>, OpError> {
        let block = block_volume(engine, &self.block_volume_id)?;
        let hosting = hosting_volume(engine, &block.hosting_volume)?;
        let host = block_exec_host(engine, &hosting.cluster).await?;
        Ok(engine
            .executor
            .block_volume_info(&host, &hosting.name, &block.name)
            .await?)
    }

    /// Records the new size: `usable` is what gluster-block reports usable,
    /// if it says.
    fn commit_grown(
        &self,
        engine: &Engine,
        entry: &JournalEntry,
        usable: Option<u64>,
        outcome: QueueOutcome,
    ) -> Result<(), OpError> {
        engine.commit(entry, outcome, |tx| {
            let mut block = tx
                .get::<BlockVolumeRecord, OpError>(&self.block_volume_id)?
                .ok_or(Abort::User(super::missing("block volume", &self.block_volume_id)))?;
            block.size_gib = self.new_size_gib;
            block.usable_size_gib = usable.unwrap_or(self.new_size_gib);
            block.expanding = None;
            tx.put(&block)
        })
    }
}

#[async_trait]
impl Operation for ExpandBlockVolume {
    fn name(&self) -> &'static str {
        "expand-block-volume"
    }

    fn heketi_type(&self) -> Option<HeketiType> {
        Some(HeketiType::ExpandBlockVolume)
    }

    fn changes(&self) -> Vec<Change> {
        vec![Change {
            delta: Some(self.new_size_gib),
            ..Change::new(&self.block_volume_id, ChangeKind::ExpandBlockVolume)
        }]
    }

    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
        let done = QueueOutcome::SeeOther(format!("/blockvolumes/{}", self.block_volume_id));
        if entry.status != JournalStatus::New {
            // Resumed because gluster-block already has the new size.
            if let Some(report) = self.report(engine).await?.filter(|r| r.size_gib >= self.new_size_gib) {
                return self.commit_grown(engine, entry, report.usable_size_gib, done);
            }
        }
        let block = block_volume(engine, &self.block_volume_id)?;
        let hosting = hosting_volume(engine, &block.hosting_volume)?;
        let host = block_exec_host(engine, &hosting.cluster).await?;
        let error = match engine
            .executor
            .block_volume_expand(&host, &hosting.name, &block.name, self.new_size_gib)
            .await
        {
            Ok(()) => return self.commit_grown(engine, entry, None, done),
            Err(e) => OpError::from(e),
        };
        // Heketi's rollback asks gluster-block what size it has.
        match self.report(engine).await {
            Ok(Some(report)) if report.size_gib >= self.new_size_gib => {
                let failed = QueueOutcome::Failed(error.to_string());
                self.commit_grown(engine, entry, report.usable_size_gib, failed)
            }
            Ok(Some(_)) => Err(error),
            Ok(None) => Err(OpError::Undecided(format!(
                "{error}; and gluster-block no longer knows block volume {}",
                block.name
            ))),
            Err(check) => Err(OpError::Undecided(format!(
                "{error}; and gluster-block could not say the block volume's size: {check}"
            ))),
        }
    }

    /// From gluster-block's size: at the new size, forward (recorded);
    /// below it, back (the growth given back).
    async fn direction(&self, engine: &Engine) -> Result<Direction, OpError> {
        match self.report(engine).await? {
            Some(report) if report.size_gib >= self.new_size_gib => Ok(Direction::Forward),
            Some(_) => Ok(Direction::Back),
            None => Err(OpError::Internal(format!(
                "gluster-block does not know block volume {}",
                self.block_volume_id
            ))),
        }
    }

    fn release(&self, tx: &Tx<'_>, _entry: &JournalEntry) -> Result<(), Abort<OpError>> {
        let Some(mut block) = tx.get::<BlockVolumeRecord, OpError>(&self.block_volume_id)? else {
            return Ok(());
        };
        block.expanding = None;
        tx.put(&block)?;
        if let Some(mut hosting) = tx.get::<VolumeRecord, OpError>(&block.hosting_volume)? {
            change_free_size(&mut hosting, self.growth_gib as i64)?;
            tx.put(&hosting)?;
        }
        Ok(())
    }
}
