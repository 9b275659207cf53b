//! The engine: shared state of the operations layer and the one generic
//! runner every journalled operation goes through. Operations are types
//! implementing `operation::Operation`; the runner journals them, executes
//! them, rolls them back, settles what a crash or a failure left, and
//! answers through the queue, the same way for every kind.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::executor::Executor;
use crate::store::records::{QueueOutcome, QueueRecord};
use crate::store::{Abort, Store, TreeName, Tx};

use super::journal::{JournalEntry, JournalStatus};
use super::operation::Direction;
use super::{health, hosts, queue, OpError, Permit, Settings, Throttle};

/// Whether a cleaning pass over every entry walks every brick for retired
/// ones, or only when a brick was retired since a walk last found none
/// (the background cleaner's hourly pass).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetiredWalk {
    Always,
    IfAnyRetired,
}

/// Shared state of the operations layer.
pub struct Engine {
    pub store: Store,
    pub executor: Arc<dyn Executor>,
    pub throttle: Throttle,
    pub settings: Settings,
    /// Bounds concurrent executor calls per storage node.
    pub hosts: hosts::HostGate,
    /// What the node health monitor last found of each node's glusterd.
    pub health: health::HealthCache,
    /// Journal entries this process is executing right now.
    in_flight: Mutex<HashSet<String>>,
    /// This start, as `mark_stale` counted it.
    start: std::sync::RwLock<Start>,
}

/// Which start of the server this is, and what the earlier ones left.
#[derive(Default)]
struct Start {
    /// Starts counted in the store, this one included (0 before
    /// `mark_stale`: an engine that never started counts nothing as
    /// interrupted).
    incarnation: u64,
    /// The queue ids of the operations earlier starts left in the journal.
    leftover_queue_ids: HashSet<String>,
}

/// Where the store keeps the count of starts.
const INCARNATION_KEY: &str = "incarnation";

impl Engine {
    pub fn new(store: Store, executor: Arc<dyn Executor>, settings: Settings) -> Arc<Engine> {
        Arc::new(Engine {
            store,
            executor,
            throttle: Throttle::new(settings.max_inflight, settings.max_queued),
            hosts: hosts::HostGate::new(settings.node_concurrency),
            health: health::HealthCache::default(),
            settings,
            in_flight: Mutex::new(HashSet::new()),
            start: std::sync::RwLock::default(),
        })
    }

    fn start(&self) -> std::sync::RwLockReadGuard<'_, Start> {
        self.start.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Which start of the server this is; new queue entries carry it.
    pub fn incarnation(&self) -> u64 {
        self.start().incarnation
    }

    /// Whether `record` is pending for good: an earlier start accepted it
    /// and left no operation that will finish it (a cleanup that was
    /// running, say). Decided when it is asked for or the queue is swept,
    /// not by reading the whole queue at start-up.
    pub fn was_interrupted(&self, record: &QueueRecord) -> bool {
        let start = self.start();
        record.outcome == QueueOutcome::Pending
            && record.incarnation.unwrap_or(0) < start.incarnation
            && !start.leftover_queue_ids.contains(&record.id)
    }

    fn in_flight_set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn is_in_flight(&self, journal_id: &str) -> bool {
        self.in_flight_set().contains(journal_id)
    }

    pub fn in_flight_count(&self) -> usize {
        self.in_flight_set().len()
    }

    /// Marks a journal entry as executing; false if it already is.
    pub(crate) fn begin(&self, journal_id: &str) -> bool {
        self.in_flight_set().insert(journal_id.to_string())
    }

    pub(crate) fn end(&self, journal_id: &str) {
        self.in_flight_set().remove(journal_id);
    }

    /// Commits durably: the client hears of success only after this.
    pub async fn flush(&self) -> Result<(), OpError> {
        Ok(self.store.flush().await?)
    }

    /// Journals `entry` with its pending queue entry and whatever `reserve`
    /// writes, in one transaction, starts it, and returns its queue id once
    /// the journal is on disk. The work runs in its own task, so a client
    /// that hangs up cannot strand an accepted request.
    pub async fn submit(
        self: &Arc<Self>,
        entry: JournalEntry,
        permit: Option<Permit>,
        reserve: impl Fn(&Tx<'_>) -> Result<(), Abort<OpError>>,
    ) -> Result<String, OpError> {
        self.store.transact(|tx| {
            reserve(tx)?;
            tx.put(&entry)?;
            queue::pending(tx, &entry.queue_id, self.incarnation())
        })?;
        let queue_id = entry.queue_id.clone();
        self.spawn(entry, permit);
        self.flush().await?;
        Ok(queue_id)
    }

    /// Runs a journalled entry in the background once the journal is
    /// durable. `permit` is held until it ends. The entry counts as in
    /// flight from this call on.
    fn spawn(self: &Arc<Self>, entry: JournalEntry, permit: Option<Permit>) {
        if !self.begin(&entry.id) {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            // Nothing touches a node before its journal entry is on disk.
            let direction = match engine.flush().await {
                Ok(()) => Direction::Forward,
                Err(e) => {
                    tracing::error!(op = %entry.id, error = %e, "journal flush failed; undoing");
                    Direction::Back
                }
            };
            engine.run(entry, direction).await;
            drop(permit);
        });
    }

    /// Settles a leftover entry: claims it (so start-up recovery and a
    /// cleanup never decide about one entry at once), re-reads it (someone
    /// may have finished it meanwhile), asks it which way to go, then runs it.
    pub async fn settle(self: &Arc<Self>, id: &str) {
        if !self.begin(id) {
            return;
        }
        let entry = match self.store.get::<JournalEntry>(id) {
            Ok(Some(entry)) => entry,
            Ok(None) => return self.end(id),
            Err(e) => {
                tracing::error!(op = id, error = %e, "cannot read journal entry");
                return self.end(id);
            }
        };
        let kind = entry.action.op().name();
        match entry.action.op().direction(self).await {
            Ok(direction) => {
                tracing::info!(op = id, kind, ?direction, "settling interrupted operation");
                self.run(entry, direction).await;
            }
            Err(e) => {
                tracing::warn!(op = id, kind, error = %e, "cannot tell how far the operation got; it waits for a cleanup");
                self.mark_failed(&entry, None);
                self.end(id);
            }
        }
    }

    async fn run(&self, entry: JournalEntry, direction: Direction) {
        let op = entry.action.op();
        let label = op.name();
        match direction {
            Direction::Forward => match op.execute(self, &entry).await {
                Ok(()) => {}
                // An interrupted eviction is settled from gluster's brick
                // list; when that fails nobody knows which side it is on.
                Err(e) if entry.status != JournalStatus::New && op.settled_from_gluster() => {
                    tracing::error!(op = %entry.id, kind = label, error = %e, "resumed operation failed again");
                    self.mark_failed(&entry, Some(QueueOutcome::Failed(e.to_string())));
                }
                Err(OpError::Incomplete(why)) => {
                    tracing::error!(op = %entry.id, kind = label, error = %why, "operation stuck past its point of no return");
                    self.mark_failed(&entry, op.answer_when_stuck(&why));
                }
                Err(OpError::Undecided(why)) => {
                    tracing::error!(op = %entry.id, kind = label, error = %why, "cannot tell how far the operation got; it waits for a cleanup");
                    self.mark_failed(&entry, None);
                }
                Err(e) => {
                    tracing::warn!(op = %entry.id, kind = label, error = %e, "operation failed; rolling back");
                    self.roll_back(&entry, e.to_string(), op.undo_after_failure()).await;
                }
            },
            Direction::Back => {
                let reason = format!("{label} operation {} interrupted by restart, rolled back", entry.id);
                self.roll_back(&entry, reason, true).await;
            }
        }
        if let Err(e) = self.flush().await {
            tracing::error!(op = %entry.id, error = %e, "store flush failed");
        }
        self.end(&entry.id);
    }

    /// Releases an entry's reservations and reports `reason` through its
    /// queue entry. With `node_side`, first undoes what may have been done on
    /// the nodes (after a crash nobody knows how far it got); if that fails,
    /// the entry stays, marked `failed`, for a later cleanup to retry.
    pub(crate) async fn roll_back(&self, entry: &JournalEntry, reason: String, node_side: bool) {
        // The stored entry names what exists now (a retried create swaps bricks).
        let stored = self.store.get::<JournalEntry>(&entry.id).ok().flatten();
        let entry = stored.as_ref().unwrap_or(entry);
        let op = entry.action.op();
        let undone = if node_side { op.undo(self).await } else { Ok(()) };
        // Reservations go only with what they stand for: after a failed undo
        // the bricks (or names) still exist on the nodes and stay recorded.
        let outcome = self.store.transact(|tx| match &undone {
            Ok(()) => {
                op.release(tx, entry)?;
                tx.remove::<JournalEntry, OpError>(&entry.id)?;
                queue::finish(tx, &entry.queue_id, QueueOutcome::Failed(reason.clone()))
            }
            Err(undo_error) => {
                let mut failed = entry.clone();
                failed.status = JournalStatus::Failed;
                tx.put(&failed)?;
                queue::finish(
                    tx,
                    &entry.queue_id,
                    QueueOutcome::Failed(format!("{reason}; undoing it on the node failed: {undo_error}")),
                )
            }
        });
        if let Err(e) = &undone {
            tracing::error!(op = %entry.id, error = %e, "node-side undo failed; operation marked failed");
        }
        if let Err(e) = outcome {
            tracing::error!(op = %entry.id, error = %e, "cannot record rollback");
        }
    }

    /// Leaves an entry for a later cleanup to finish. The client hears
    /// `answer` (what will be true once it is finished), or, with none,
    /// keeps polling until then: a final answer is never taken back.
    pub(crate) fn mark_failed(&self, entry: &JournalEntry, answer: Option<QueueOutcome>) {
        let result = self.store.transact(|tx| {
            if let Some(mut stored) = tx.get::<JournalEntry, OpError>(&entry.id)? {
                stored.status = JournalStatus::Failed;
                tx.put(&stored)?;
            }
            match &answer {
                Some(outcome) => queue::finish(tx, &entry.queue_id, outcome.clone()),
                None => Ok(()),
            }
        });
        if let Err(e) = result {
            tracing::error!(op = %entry.id, error = %e, "cannot mark operation failed");
        }
    }

    /// The committing transaction: `body`'s changes, the journal entry gone and
    /// the queue entry final, all at once.
    pub(crate) fn commit(
        &self,
        entry: &JournalEntry,
        outcome: QueueOutcome,
        body: impl Fn(&Tx<'_>) -> Result<(), Abort<OpError>>,
    ) -> Result<(), OpError> {
        self.store.transact(|tx| {
            if tx.get::<JournalEntry, OpError>(&entry.id)?.is_none() {
                // Someone else (a cleanup) already finished it.
                return Err(Abort::User(OpError::Conflict(format!(
                    "operation {} is no longer pending",
                    entry.id
                ))));
            }
            body(tx)?;
            tx.remove::<JournalEntry, OpError>(&entry.id)?;
            queue::finish(tx, &entry.queue_id, outcome.clone())
        })?;
        Ok(())
    }

    /// Marks every journal entry a previous run left behind `stale` (as
    /// Heketi does at start-up) and returns them, and counts this start.
    /// Call before serving, so that new requests are never mistaken for
    /// leftovers. Pending queue entries that no leftover owns are settled
    /// as they are asked for (`Engine::was_interrupted`).
    pub fn mark_stale(&self) -> Result<Vec<JournalEntry>, OpError> {
        let mut leftovers = Vec::new();
        for mut entry in self.store.scan::<JournalEntry>()? {
            if entry.status == JournalStatus::New {
                entry.status = JournalStatus::Stale;
                self.store.transact(|tx| tx.put(&entry))?;
            }
            leftovers.push(entry);
        }
        let incarnation = self.store.transact(|tx| {
            // A count that cannot be read would start again below the
            // entries' and leave theirs pending for ever: refuse to start.
            let before = match tx.index_get::<OpError>(TreeName::Meta, INCARNATION_KEY)? {
                None => 0,
                Some(n) => match n.parse::<u64>() {
                    Ok(n) => n,
                    Err(e) => {
                        return crate::store::abort(OpError::Internal(format!(
                            "the store's count of starts ({INCARNATION_KEY:?} in meta) is {n:?}, not a number: {e}"
                        )))
                    }
                },
            };
            let now = before.saturating_add(1);
            tx.index_put(TreeName::Meta, INCARNATION_KEY, &now.to_string())?;
            Ok(now)
        })?;
        self.store.flush_blocking()?;
        *self.start.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Start {
            incarnation,
            leftover_queue_ids: leftovers.iter().map(|e| e.queue_id.clone()).collect(),
        };
        Ok(leftovers)
    }

    /// Takes the leftovers of a previous run to their end, each the way it
    /// says. Entries whose rollback already failed wait for a cleanup.
    pub async fn recover(self: &Arc<Self>, leftovers: Vec<JournalEntry>) -> usize {
        let mut handled = 0;
        for entry in leftovers {
            if entry.status == JournalStatus::Failed {
                tracing::warn!(op = %entry.id, kind = entry.action.op().name(), "failed operation awaits cleanup");
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
        self.store
            .transact(|tx| queue::pending(tx, &queue_id, self.incarnation()))?;
        self.flush().await?;
        let engine = self.clone();
        let qid = queue_id.clone();
        tokio::spawn(async move {
            let outcome = match engine.clean_entries(&ids, None, RetiredWalk::Always).await {
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

    /// Drives stale and failed entries (all, or those in `ids`) again, and
    /// with all, removes bricks retired while their node was away.
    /// `older_than` skips entries accepted after that Unix time.
    pub async fn clean_entries(
        self: &Arc<Self>,
        ids: &[String],
        older_than: Option<u64>,
        retired: RetiredWalk,
    ) -> Result<(), OpError> {
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
            tracing::info!(op = %entry.id, kind = entry.action.op().name(), "cleaning operation");
            self.settle(&entry.id).await;
        }
        if ids.is_empty() {
            match retired {
                RetiredWalk::Always => super::retired::reap_retired_bricks(self, None).await?,
                RetiredWalk::IfAnyRetired => super::retired::reap_retired_bricks_if_any(self).await?,
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::mock::MockExecutor;

    fn engine() -> (tempfile::TempDir, Arc<Engine>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        let executor = Arc::new(MockExecutor::in_memory(1, &[]).unwrap());
        (dir, Engine::new(store, executor, Default::default()))
    }

    fn queue_outcome(engine: &Engine, id: &str) -> QueueOutcome {
        engine.store.get::<QueueRecord>(id).unwrap().unwrap().outcome
    }

    #[tokio::test]
    async fn pending_queue_entries_an_earlier_start_left_unowned_fail_when_asked_for_or_swept() {
        let (_dir, first) = engine();
        assert!(first.mark_stale().unwrap().is_empty());
        assert_eq!(first.incarnation(), 1);
        // A cleanup's entry (no journal entry owns it), one written before
        // starts were counted, and an operation's.
        first.store.transact(|tx| queue::pending(tx, "cleanup", 1)).unwrap();
        let legacy = QueueRecord {
            incarnation: None,
            ..first.store.get::<QueueRecord>("cleanup").unwrap().unwrap()
        };
        first
            .store
            .transact(|tx| {
                tx.put::<_, OpError>(&QueueRecord {
                    id: "legacy".into(),
                    ..legacy.clone()
                })
            })
            .unwrap();
        let owned = failed_entry(&first, 100, JournalStatus::New);
        // The start that made an entry never counts it interrupted; one
        // without a start is an earlier binary's.
        assert_eq!(
            queue::poll_queue(&first, "cleanup").await.unwrap(),
            QueueOutcome::Pending
        );
        assert!(first.was_interrupted(&legacy));

        // The next start.
        let second = Engine::new(first.store.clone(), first.executor.clone(), Default::default());
        let leftovers = second.mark_stale().unwrap();
        assert_eq!(leftovers.len(), 1);
        assert_eq!(second.incarnation(), 2);
        second.store.transact(|tx| queue::pending(tx, "new", 2)).unwrap();
        assert_eq!(
            queue::poll_queue(&second, "cleanup").await.unwrap(),
            QueueOutcome::Failed(queue::INTERRUPTED.into())
        );
        assert_eq!(queue::poll_queue(&second, "new").await.unwrap(), QueueOutcome::Pending);
        assert_eq!(
            queue::poll_queue(&second, &owned.queue_id).await.unwrap(),
            QueueOutcome::Pending
        );
        // Nobody asks for the legacy one: the sweep makes it final, so it expires.
        assert_eq!(queue_outcome(&second, "legacy"), QueueOutcome::Pending);
        queue::expire_queue(&second, crate::clock::now_secs()).unwrap();
        let swept = second.store.get::<QueueRecord>("legacy").unwrap().unwrap();
        assert_eq!(swept.outcome, QueueOutcome::Failed(queue::INTERRUPTED.into()));
        assert!(swept.finished_at.is_some());
        assert_eq!(queue_outcome(&second, "new"), QueueOutcome::Pending);
        assert_eq!(queue_outcome(&second, &owned.queue_id), QueueOutcome::Pending);
    }

    #[test]
    fn a_count_of_starts_that_is_not_a_number_stops_the_start() {
        let (_dir, engine) = engine();
        engine
            .store
            .transact(|tx| tx.index_put::<OpError>(TreeName::Meta, INCARNATION_KEY, "x"))
            .unwrap();
        let refused = engine.mark_stale().unwrap_err();
        assert!(refused.to_string().contains("not a number"), "{refused}");
        assert_eq!(engine.incarnation(), 0);
    }

    fn failed_entry(engine: &Engine, timestamp: u64, status: JournalStatus) -> JournalEntry {
        let entry = JournalEntry {
            timestamp,
            status,
            ..JournalEntry::new(crate::ops::nodes::DeleteNode {
                node_id: crate::ids::new_id(),
                detach_from: None,
            })
        };
        engine
            .store
            .transact(|tx| {
                tx.put(&entry)?;
                queue::pending(tx, &entry.queue_id, engine.incarnation())
            })
            .unwrap();
        entry
    }

    /// The background cleaner's pass: failed and stale entries older than
    /// the cut-off are driven again; newer ones, and new ones, are left.
    #[tokio::test]
    async fn a_cleaning_pass_settles_only_old_leftovers() {
        let (_dir, engine) = engine();
        let old = failed_entry(&engine, 100, JournalStatus::Failed);
        let stale = failed_entry(&engine, 200, JournalStatus::Stale);
        let recent = failed_entry(&engine, 10_000, JournalStatus::Failed);
        let running = failed_entry(&engine, 100, JournalStatus::New);
        engine
            .clean_entries(&[], Some(5_000), RetiredWalk::IfAnyRetired)
            .await
            .unwrap();
        for gone in [&old, &stale] {
            assert!(engine.store.get::<JournalEntry>(&gone.id).unwrap().is_none());
            let answer = engine.store.get::<QueueRecord>(&gone.queue_id).unwrap().unwrap();
            assert_eq!(answer.outcome, QueueOutcome::NoContent);
        }
        for kept in [&recent, &running] {
            assert_eq!(engine.store.get::<JournalEntry>(&kept.id).unwrap().as_ref(), Some(kept));
        }
    }
}
