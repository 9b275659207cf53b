//! Start-up recovery and the cleanup of failed journal entries.

use std::sync::Arc;

use crate::store::records::QueueOutcome;

use super::journal::{JournalEntry, JournalStatus};
use super::{queue, Engine, OpError};

impl Engine {
    /// Marks every journal entry a previous run left behind `stale` (as
    /// Heketi does at start-up) and returns them. Call before serving, so
    /// that new requests are never mistaken for leftovers.
    pub fn mark_stale(&self) -> Result<Vec<JournalEntry>, OpError> {
        let mut leftovers = Vec::new();
        for mut entry in self.store.scan::<JournalEntry>()? {
            if entry.status == JournalStatus::New {
                entry.status = JournalStatus::Stale;
                self.store.transact(|tx| tx.put(&entry))?;
            }
            leftovers.push(entry);
        }
        Ok(leftovers)
    }

    /// Takes the leftovers of a previous run to their end: forward where
    /// every step is idempotent, back otherwise. Entries whose rollback
    /// already failed wait for `/operations/pending/cleanup`.
    pub async fn recover(self: &Arc<Self>, leftovers: Vec<JournalEntry>) -> usize {
        let mut handled = 0;
        for entry in leftovers {
            if entry.status == JournalStatus::Failed {
                tracing::warn!(op = %entry.id, kind = entry.action.type_name(), "failed operation awaits cleanup");
                continue;
            }
            let direction = entry.action.recovery();
            tracing::info!(
                op = %entry.id,
                kind = entry.action.type_name(),
                ?direction,
                "recovering operation interrupted by restart"
            );
            self.drive(entry, direction).await;
            handled += 1;
        }
        handled
    }

    /// Starts cleaning the given (or all) stale and failed journal entries;
    /// returns the queue id. Individual failures are only logged.
    pub async fn cleanup(self: &Arc<Self>, ids: Vec<String>) -> Result<String, OpError> {
        let queue_id = crate::ids::new_id();
        self.store.transact(|tx| queue::pending(tx, &queue_id))?;
        self.flush().await?;
        let engine = self.clone();
        let qid = queue_id.clone();
        tokio::spawn(async move {
            let outcome = match engine.clean_entries(&ids).await {
                Ok(()) => QueueOutcome::NoContent,
                Err(e) => QueueOutcome::Failed(e.to_string()),
            };
            if let Err(e) = engine
                .store
                .transact(|tx| queue::finish(tx, &qid, outcome.clone()))
            {
                tracing::error!(error = %e, "cannot record cleanup outcome");
            }
            let _ = engine.flush().await;
        });
        Ok(queue_id)
    }

    async fn clean_entries(self: &Arc<Self>, ids: &[String]) -> Result<(), OpError> {
        for entry in self.store.scan::<JournalEntry>()? {
            if !ids.is_empty() && !ids.contains(&entry.id) {
                continue;
            }
            if entry.status == JournalStatus::New || self.is_in_flight(&entry.id) {
                continue;
            }
            tracing::info!(op = %entry.id, kind = entry.action.type_name(), "cleaning operation");
            let direction = entry.action.recovery();
            self.drive(entry, direction).await;
        }
        Ok(())
    }
}
