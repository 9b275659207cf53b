//! What a store backend offers: named trees of byte keys and values, point
//! reads and ordered prefix visits outside transactions, and serialisable
//! transactions of point reads and writes. `Store` and `Tx` put typed
//! records on top; nothing above `store/` sees a backend.

pub mod etcd;
#[cfg(test)]
pub(crate) mod hooked;
pub mod mirror;
pub mod sled_db;

use super::{StoreError, TreeName};

/// Why a transaction body stopped early.
#[derive(Debug)]
pub enum Stop {
    /// The body's own decision; the caller keeps its error.
    Abort,
    /// The store failed under the body.
    Store(StoreError),
    /// The backend wants the body run again (a conflicting transaction).
    Conflict,
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e)
    }
}

/// How a transaction ended when it did not commit.
#[derive(Debug)]
pub enum Failure {
    Aborted,
    Store(StoreError),
}

/// Point reads and writes inside one transaction. Reads see the
/// transaction's own writes.
pub trait TxOps {
    fn get(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, Stop>;
    fn put(&self, tree: TreeName, key: &[u8], value: &[u8]) -> Result<(), Stop>;
    fn remove(&self, tree: TreeName, key: &[u8]) -> Result<(), Stop>;
}

/// Raw entries of one tree: `(tree, [(key, value)])`.
pub type TreeEntries = (TreeName, Vec<(Vec<u8>, Vec<u8>)>);
pub type Entries = [TreeEntries];

/// A visitor over ordered entries; returning `false` stops the visit.
pub type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool, StoreError> + 'a;

pub trait Backend: Send + Sync {
    fn get(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Visits every entry of `tree` whose key starts with `prefix`, in key
    /// order. With `keys_only`, values are passed empty. The visitor must
    /// not use the store (a backend may hold a lock while it runs).
    fn visit(&self, tree: TreeName, prefix: &[u8], keys_only: bool, visit: &mut Visit<'_>) -> Result<(), StoreError>;

    fn len(&self, tree: TreeName) -> Result<usize, StoreError>;

    /// A number that changes whenever a commit writes `tree`, where the
    /// backend keeps one (an in-memory copy of the tree), read after every
    /// commit whose effects the caller has seen; `None` where it cannot
    /// tell (etcd: other replicas commit there).
    fn version(&self, _tree: TreeName) -> Option<u64> {
        None
    }

    /// Runs `body` until it commits as one serialisable transaction over
    /// every tree, or stops. The body may run more than once.
    fn transact(&self, body: &mut dyn FnMut(&dyn TxOps) -> Result<(), Stop>) -> Result<(), Failure>;

    /// `transact` for a body that may write more than one backend
    /// transaction holds (an import into an emptied store): the backend may
    /// commit its writes in parts, inside the marker `load` uses.
    fn transact_in_parts(&self, body: &mut dyn FnMut(&dyn TxOps) -> Result<(), Stop>) -> Result<(), Failure> {
        self.transact(body)
    }

    /// Writes many entries into trees that hold none of their keys (a
    /// restore or an import into an emptied store). One transaction where
    /// the backend can hold it; otherwise in parts, with a marker that
    /// makes an interrupted load visible to the next open.
    fn load(&self, entries: &Entries) -> Result<(), StoreError>;

    /// Empties the given trees.
    fn clear(&self, trees: &[TreeName]) -> Result<(), StoreError>;

    /// Makes every committed transaction durable. Backends whose commits
    /// are durable when they return (etcd: a quorum has them) do nothing.
    fn sync(&self) -> Result<(), StoreError>;

    /// Whether `sync` does anything (so `Store::flush` can skip the wait).
    fn syncs_to_disk(&self) -> bool;

    /// A consistent copy of everything, kept beside the store before a
    /// migration; says where it went.
    fn keep_copy(&self, label: &str) -> Result<String, StoreError>;

    /// Bytes the backend holds, for benchmarks and metrics.
    fn size(&self) -> u64;
}
