//! Operations: everything that changes the store or the storage nodes.
//!
//! Each long-running request is journalled before any executor call (one
//! transaction records the journal entry, its queue entry and any
//! reservation), then executed, then committed in one transaction that drops
//! the journal entry. Failures roll back; start-up recovery finishes or
//! undoes whatever a crash interrupted.

pub mod block_volumes;
pub mod check;
pub mod check_nodes;
pub mod clusters;
pub mod devices;
pub mod dump;
pub mod evict;
pub mod hosts;
pub mod import;
pub mod journal;
pub mod nodes;
pub mod queue;
pub mod recovery;
pub mod throttle;
pub mod volumes;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::executor::Executor;
use crate::store::{Store, StoreError, TxFailure};

pub use throttle::{Permit, Throttle};

/// The one error type of the operations layer; `api::error` maps each kind
/// to its HTTP status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Server busy. Retry operation later.")]
    Busy,
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    NotImplemented(String),
    /// The store changed under a plan; plan again.
    #[error("the topology changed while planning; retry")]
    Retry,
    /// Past the point of no return and stuck: the journal entry stays,
    /// marked failed, for a cleanup to finish it.
    #[error("{0}")]
    Incomplete(String),
    /// Nobody can tell yet which side of its point of no return the
    /// operation is on (gluster cannot be asked): the entry stays, marked
    /// failed, and its queue entry pending, for a cleanup to settle.
    #[error("{0}")]
    Undecided(String),
}

impl OpError {
    pub fn id_not_found() -> OpError {
        OpError::NotFound("Id not found".into())
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        OpError::Internal(e.to_string())
    }
}

impl From<TxFailure<OpError>> for OpError {
    fn from(e: TxFailure<OpError>) -> Self {
        match e {
            TxFailure::User(e) => e,
            TxFailure::Store(e) => e.into(),
        }
    }
}

/// Limits and policies the operations layer works with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_inflight: usize,
    /// Requests allowed to wait for an in-flight slot before `429`.
    pub max_queued: usize,
    /// Executor calls allowed at once on one storage node.
    pub node_concurrency: usize,
    pub limits: crate::config::VolumeLimits,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_inflight: 8,
            max_queued: 64,
            node_concurrency: 4,
            limits: crate::config::VolumeLimits::default(),
        }
    }
}

/// Shared state of the operations layer.
pub struct Engine {
    pub store: Store,
    pub executor: Arc<dyn Executor>,
    pub throttle: Throttle,
    pub settings: Settings,
    /// Bounds concurrent executor calls per storage node.
    pub hosts: hosts::HostGate,
    /// Journal entries this process is executing right now.
    in_flight: Mutex<HashSet<String>>,
}

impl Engine {
    pub fn new(store: Store, executor: Arc<dyn Executor>, settings: Settings) -> Arc<Engine> {
        Arc::new(Engine {
            store,
            executor,
            throttle: Throttle::new(settings.max_inflight, settings.max_queued),
            hosts: hosts::HostGate::new(settings.node_concurrency),
            settings,
            in_flight: Mutex::new(HashSet::new()),
        })
    }

    fn in_flight_set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_in_flight(&self, journal_id: &str) -> bool {
        self.in_flight_set().contains(journal_id)
    }

    pub fn in_flight_count(&self) -> usize {
        self.in_flight_set().len()
    }

    /// Marks a journal entry as executing; false if it already is.
    fn begin(&self, journal_id: &str) -> bool {
        self.in_flight_set().insert(journal_id.to_string())
    }

    fn end(&self, journal_id: &str) {
        self.in_flight_set().remove(journal_id);
    }

    /// Commits durably: the client hears of success only after this.
    pub async fn flush(&self) -> Result<(), OpError> {
        Ok(self.store.flush().await?)
    }
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
