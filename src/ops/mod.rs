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
pub mod engine;
pub mod evacuate;
pub mod evict;
pub mod examine;
pub mod heal;
pub mod health;
pub mod hosts;
pub mod import;
pub mod journal;
pub mod ledger;
pub mod mend;
pub mod nodes;
pub mod operation;
pub mod queue;
pub mod reconcile;
pub mod retired;
pub mod status;
pub mod throttle;
pub mod volumes;

use std::sync::Arc;

use crate::executor::ExecError;
use crate::store::{StoreError, TxFailure};

pub use engine::{Engine, RetiredWalk};
pub use throttle::{Permit, Throttle};

/// The one error type of the operations layer; `api::error` maps each kind
/// to its HTTP status. The texts are what clients read (Heketi's where
/// Heketi had one); failures from below keep their source.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// A command on a storage node failed; its message is the answer.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The store failed.
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// No node of the cluster is online to run gluster commands on.
    #[error("No online node in cluster {0} to run gluster on")]
    NoGlusterNode(String),
    /// Placement found no device to take an evicted brick; says why.
    #[error("{prefix}: {0}", prefix = crate::placement::NO_REPLACEMENT)]
    NoReplacement(String),
}

impl PartialEq for OpError {
    fn eq(&self, other: &Self) -> bool {
        use OpError::*;
        match (self, other) {
            (NotFound(a), NotFound(b))
            | (BadRequest(a), BadRequest(b))
            | (Conflict(a), Conflict(b))
            | (Internal(a), Internal(b))
            | (NotImplemented(a), NotImplemented(b))
            | (Incomplete(a), Incomplete(b))
            | (Undecided(a), Undecided(b))
            | (NoGlusterNode(a), NoGlusterNode(b))
            | (NoReplacement(a), NoReplacement(b)) => a == b,
            (Busy, Busy) | (Retry, Retry) => true,
            (Exec(a), Exec(b)) => a == b,
            (Store(a), Store(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl OpError {
    pub fn id_not_found() -> OpError {
        OpError::NotFound("Id not found".into())
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        OpError::Store(Arc::new(e))
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
