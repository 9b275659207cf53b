//! The asynchronous request queue behind `/queue/{id}`. Entries are stored,
//! so an id handed out before a restart still answers after it.

use crate::ids::new_id;
use crate::store::records::{QueueOutcome, QueueRecord};
use crate::store::{Abort, Tx};

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

/// Drops finished entries older than the TTL, and makes interrupted ones
/// final (so they expire too, whether or not anyone asks for them);
/// returns how many went.
pub fn expire_queue(engine: &Engine, now: u64) -> Result<usize, OpError> {
    let (mut interrupted, mut stale) = (Vec::new(), Vec::new());
    engine.store.visit_records(&mut |r: QueueRecord| {
        if engine.was_interrupted(&r) {
            interrupted.push(r.id.clone());
        }
        if r.finished_at
            .is_some_and(|t| now.saturating_sub(t) >= FINISHED_TTL_SECS)
        {
            stale.push(r.id);
        }
    })?;
    finish_interrupted(engine, &interrupted)?;
    engine.store.transact(|tx| {
        for id in &stale {
            tx.remove::<QueueRecord, OpError>(id)?;
        }
        Ok(())
    })?;
    Ok(stale.len())
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
        assert_eq!(expire_queue(&engine, 10_000 + FINISHED_TTL_SECS - 1).unwrap(), 0);
        assert!(engine.store.get::<QueueRecord>("done").unwrap().is_some());
        assert_eq!(expire_queue(&engine, 10_000 + FINISHED_TTL_SECS).unwrap(), 1);
        assert!(engine.store.get::<QueueRecord>("done").unwrap().is_none());
        assert_eq!(expire_queue(&engine, u64::MAX).unwrap(), 0);
        assert!(engine.store.get::<QueueRecord>("pending").unwrap().is_some());
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
