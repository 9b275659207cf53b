//! The asynchronous request queue behind `/queue/{id}`. Entries are stored,
//! so an id handed out before a restart still answers after it.

use crate::ids::new_id;
use crate::store::records::{QueueOutcome, QueueRecord};
use crate::store::{Abort, Tx};

use super::{now_secs, Engine, OpError};

/// Finished entries nobody collected are dropped after this long.
pub const FINISHED_TTL_SECS: u64 = 3600;

/// A new pending entry, written inside the caller's transaction.
pub fn pending(tx: &Tx<'_>, id: &str) -> Result<(), Abort<OpError>> {
    tx.put(&QueueRecord {
        id: id.to_string(),
        accepted_at: now_secs(),
        finished_at: None,
        outcome: QueueOutcome::Pending,
    })
}

/// A new entry that is already final (for requests decided at once).
pub fn finished(tx: &Tx<'_>, outcome: QueueOutcome) -> Result<String, Abort<OpError>> {
    let id = new_id();
    let now = now_secs();
    tx.put(&QueueRecord {
        id: id.clone(),
        accepted_at: now,
        finished_at: Some(now),
        outcome,
    })?;
    Ok(id)
}

/// Sets the final outcome of a pending entry. An entry already final (or
/// already collected) is left alone.
pub fn finish(tx: &Tx<'_>, id: &str, outcome: QueueOutcome) -> Result<(), Abort<OpError>> {
    if let Some(mut record) = tx.get::<QueueRecord, OpError>(id)? {
        if record.outcome == QueueOutcome::Pending {
            record.outcome = outcome;
            record.finished_at = Some(now_secs());
            tx.put(&record)?;
        }
    }
    Ok(())
}

impl Engine {
    /// What a poll of `/queue/{id}` sees. A final outcome is delivered once,
    /// and only after it is on disk.
    pub async fn poll_queue(&self, id: &str) -> Result<QueueOutcome, OpError> {
        // Pending polls are frequent and change nothing: answer them with a
        // plain read, without taking the store's transaction lock.
        match self.store.get::<QueueRecord>(id)? {
            None => return Err(OpError::id_not_found()),
            Some(record) if record.outcome == QueueOutcome::Pending => return Ok(QueueOutcome::Pending),
            Some(_) => {}
        }
        let outcome = self.store.transact(|tx| {
            let Some(record) = tx.get::<QueueRecord, OpError>(id)? else {
                return Err(Abort::User(OpError::id_not_found()));
            };
            if record.outcome != QueueOutcome::Pending {
                tx.remove::<QueueRecord, OpError>(id)?;
            }
            Ok(record.outcome)
        })?;
        if outcome != QueueOutcome::Pending {
            // The commit that made it final may not be flushed yet.
            self.flush().await?;
        }
        Ok(outcome)
    }

    /// Drops finished entries older than the TTL; returns how many went.
    pub fn expire_queue(&self, now: u64) -> Result<usize, OpError> {
        let stale: Vec<String> = self
            .store
            .scan::<QueueRecord>()?
            .into_iter()
            .filter(|r| {
                r.finished_at
                    .is_some_and(|t| now.saturating_sub(t) >= FINISHED_TTL_SECS)
            })
            .map(|r| r.id)
            .collect();
        self.store.transact(|tx| {
            for id in &stale {
                tx.remove::<QueueRecord, OpError>(id)?;
            }
            Ok(())
        })?;
        Ok(stale.len())
    }
}
