//! Start-up recovery and the cleanup of failed journal entries.

use std::sync::Arc;

use std::collections::HashSet;

use crate::store::records::{QueueOutcome, QueueRecord};

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
        // Pending queue entries no journal entry will finish (a cleanup that
        // was running) would otherwise poll as pending for ever.
        let owned: HashSet<&str> = leftovers.iter().map(|e| e.queue_id.as_str()).collect();
        let orphans: Vec<String> = self
            .store
            .scan::<QueueRecord>()?
            .into_iter()
            .filter(|q| q.outcome == QueueOutcome::Pending && !owned.contains(q.id.as_str()))
            .map(|q| q.id)
            .collect();
        self.store.transact(|tx| {
            for id in &orphans {
                queue::finish(tx, id, QueueOutcome::Failed("interrupted by restart".into()))?;
            }
            Ok(())
        })?;
        self.store.flush_blocking()?;
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
            self.settle(&entry.id).await;
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
            let outcome = match engine.clean_entries(&ids, None).await {
                Ok(()) => QueueOutcome::NoContent,
                Err(e) => QueueOutcome::Failed(e.to_string()),
            };
            if let Err(e) = engine.store.transact(|tx| queue::finish(tx, &qid, outcome.clone())) {
                tracing::error!(error = %e, "cannot record cleanup outcome");
            }
            let _ = engine.flush().await;
        });
        Ok(queue_id)
    }

    /// Drives stale and failed entries (all, or those in `ids`) again.
    /// `older_than` skips entries accepted after that Unix time.
    pub async fn clean_entries(self: &Arc<Self>, ids: &[String], older_than: Option<u64>) -> Result<(), OpError> {
        for entry in self.store.scan::<JournalEntry>()? {
            if !ids.is_empty() && !ids.contains(&entry.id) {
                continue;
            }
            if older_than.is_some_and(|t| entry.timestamp > t) {
                continue;
            }
            if entry.status == JournalStatus::New || self.is_in_flight(&entry.id) {
                continue;
            }
            tracing::info!(op = %entry.id, kind = entry.action.type_name(), "cleaning operation");
            self.settle(&entry.id).await;
        }
        if ids.is_empty() {
            self.reap_retired_bricks(None).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::mock::MockExecutor;
    use crate::store::records::QueueRecord;
    use crate::store::Store;

    #[tokio::test]
    async fn pending_queue_entries_without_an_owner_fail_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        let engine = Engine::new(
            store,
            Arc::new(MockExecutor::in_memory(1, &[]).unwrap()),
            Default::default(),
        );
        engine.store.transact(|tx| queue::pending(tx, "orphan")).unwrap();
        assert!(engine.mark_stale().unwrap().is_empty());
        let record = engine.store.get::<QueueRecord>("orphan").unwrap().unwrap();
        assert_eq!(record.outcome, QueueOutcome::Failed("interrupted by restart".into()));
    }
}
