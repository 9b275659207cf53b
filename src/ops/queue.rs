//! The asynchronous request queue behind `/queue/{id}`. Entries are stored,
//! so an id handed out before a restart still answers after it.

use crate::ids::new_id;
use crate::store::records::{QueueOutcome, QueueRecord};
use crate::store::{Abort, TreeName, Tx};

use super::{Engine, OpError};
use crate::clock::now_secs;

/// Finished entries are dropped this long after they became final, whether
/// or not anyone collected them. Until then every poll gets the same answer:
/// a reply lost with its connection or a crash can be asked for again.
pub const FINISHED_TTL_SECS: u64 = 3600;

/// What a pending entry an earlier start left, and no operation it left
/// owns, answers: nothing will ever finish it otherwise.
pub const INTERRUPTED: &str = "interrupted by restart";

/// A new pending entry of the server's `incarnation` (`Engine::incarnation`),
/// written inside the caller's transaction.
pub fn pending(tx: &Tx<'_>, id: &str, incarnation: u64) -> Result<(), Abort<OpError>> {
    tx.put(&QueueRecord {
        id: id.to_string(),
        accepted_at: now_secs(),
        finished_at: None,
        outcome: QueueOutcome::Pending,
        incarnation: Some(incarnation),
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
        incarnation: None,
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

/// What a poll of `/queue/{id}` sees. A final outcome is answered only
/// once it is on disk, and it stays answerable until it expires (Heketi
/// forgot it after the first delivery, so a lost reply lost the answer).
pub async fn poll_queue(engine: &Engine, id: &str) -> Result<QueueOutcome, OpError> {
    let mut record = engine.store.get::<QueueRecord>(id)?.ok_or_else(OpError::id_not_found)?;
    if engine.was_interrupted(&record) {
        finish_interrupted(engine, &[record.id])?;
        record = engine.store.get::<QueueRecord>(id)?.ok_or_else(OpError::id_not_found)?;
    }
    if record.outcome != QueueOutcome::Pending {
        // The commit that made it final may not be flushed yet.
        engine.flush().await?;
    }
    Ok(record.outcome)
}

/// Makes pending entries an earlier start left, and no operation it left
/// owns, final (`Engine::was_interrupted`). Finishing changes only entries
/// still pending.
fn finish_interrupted(engine: &Engine, ids: &[String]) -> Result<(), OpError> {
    if ids.is_empty() {
        return Ok(());
    }
    engine.store.transact(|tx| {
        for id in ids {
            finish(tx, id, QueueOutcome::Failed(INTERRUPTED.into()))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// What a sweep of the queue did.
#[derive(Debug, PartialEq, Eq)]
pub struct Expiry {
    /// Entries dropped.
    pub removed: usize,
    /// No entry expires before this Unix time: the earliest expiry of the
    /// final entries kept, and at most a TTL from the sweep (an entry
    /// that becomes final later expires later). A sweep before it would
    /// walk every entry (50,000 after as many creates) to drop none.
    pub next_due: u64,
}

/// Where the last sweep left `Expiry::next_due` (in `meta`), so that a
/// restarted server does not walk the queue again before it: a poll
/// answers an interrupted entry at once, and the sweep only makes the
/// unpolled ones final so they expire.
const NEXT_SWEEP_KEY: &str = crate::store::QUEUE_NEXT_SWEEP_KEY;

/// When the last sweep found the next one due (0 before any sweep).
pub fn next_sweep(engine: &Engine) -> Result<u64, OpError> {
    let due = engine.store.index_get(TreeName::Meta, NEXT_SWEEP_KEY)?;
    Ok(due.and_then(|d| d.parse().ok()).unwrap_or(0))
}

/// Drops finished entries older than the TTL, and makes interrupted ones
/// final (so they expire too, whether or not anyone asks for them).
pub fn expire_queue(engine: &Engine, now: u64) -> Result<Expiry, OpError> {
    let (mut interrupted, mut stale) = (Vec::new(), Vec::new());
    let mut next_due = now.saturating_add(FINISHED_TTL_SECS);
    engine.store.visit_records(&mut |r: QueueRecord| {
        if engine.was_interrupted(&r) {
            interrupted.push(r.id.clone());
        }
        match r.finished_at.map(|t| t.saturating_add(FINISHED_TTL_SECS)) {
            Some(due) if due <= now => stale.push(r.id),
            Some(due) => next_due = next_due.min(due),
            None => {}
        }
    })?;
    finish_interrupted(engine, &interrupted)?;
    engine.store.transact(|tx| {
        for id in &stale {
            tx.remove::<QueueRecord, OpError>(id)?;
        }
        tx.index_put(TreeName::Meta, NEXT_SWEEP_KEY, &next_due.to_string())
    })?;
    Ok(Expiry {
        removed: stale.len(),
        next_due,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::executor::mock::MockExecutor;
    use crate::store::Store;

    fn engine() -> (tempfile::TempDir, Arc<Engine>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        let executor = Arc::new(MockExecutor::in_memory(1, &[]).unwrap());
        (dir, Engine::new(store, executor, Default::default()))
    }

    fn put(engine: &Engine, id: &str, finished_at: Option<u64>, outcome: QueueOutcome) {
        let record = QueueRecord {
            id: id.into(),
            accepted_at: 1000,
            finished_at,
            outcome,
            incarnation: None,
        };
        engine.store.transact(|tx| tx.put::<_, OpError>(&record)).unwrap();
    }

    #[test]
    fn final_answers_expire_an_hour_after_they_became_final_and_pending_ones_never() {
        let (_dir, engine) = engine();
        put(&engine, "done", Some(10_000), QueueOutcome::NoContent);
        put(&engine, "pending", None, QueueOutcome::Pending);
        let early = 10_000 + FINISHED_TTL_SECS - 1;
        assert_eq!(
            expire_queue(&engine, early).unwrap(),
            Expiry {
                removed: 0,
                next_due: 10_000 + FINISHED_TTL_SECS
            },
            "kept until its hour is up, and the next sweep due then"
        );
        assert!(engine.store.get::<QueueRecord>("done").unwrap().is_some());
        let on_time = 10_000 + FINISHED_TTL_SECS;
        assert_eq!(
            expire_queue(&engine, on_time).unwrap(),
            Expiry {
                removed: 1,
                next_due: on_time + FINISHED_TTL_SECS
            },
            "nothing final is left: whatever finishes next is due an hour after the sweep at the earliest"
        );
        assert!(engine.store.get::<QueueRecord>("done").unwrap().is_none());
        assert_eq!(expire_queue(&engine, u64::MAX).unwrap().removed, 0);
        assert!(engine.store.get::<QueueRecord>("pending").unwrap().is_some());
    }

    #[test]
    fn the_next_sweep_is_due_when_the_earliest_final_answer_expires() {
        let (_dir, engine) = engine();
        put(&engine, "later", Some(10_500), QueueOutcome::NoContent);
        put(&engine, "earlier", Some(10_200), QueueOutcome::NoContent);
        put(&engine, "pending", None, QueueOutcome::Pending);
        assert_eq!(next_sweep(&engine).unwrap(), 0, "no sweep yet");
        let expiry = expire_queue(&engine, 11_000).unwrap();
        assert_eq!(
            expiry,
            Expiry {
                removed: 0,
                next_due: 10_200 + FINISHED_TTL_SECS
            }
        );
        assert_eq!(next_sweep(&engine).unwrap(), expiry.next_due, "kept for the next start");
    }

    #[tokio::test]
    async fn a_final_answer_is_repeated_until_it_expires() {
        let (_dir, engine) = engine();
        put(
            &engine,
            "done",
            Some(10_000),
            QueueOutcome::SeeOther("/volumes/x".into()),
        );
        for _ in 0..3 {
            assert_eq!(
                poll_queue(&engine, "done").await.unwrap(),
                QueueOutcome::SeeOther("/volumes/x".into())
            );
        }
        assert_eq!(poll_queue(&engine, "unknown").await, Err(OpError::id_not_found()));
    }
}
