//! Tests only: a sled backend that runs a hook once a transaction has
//! committed, before `transact` returns (the moment the backend holds a
//! commit that its callers have not heard of yet), and counts its syncs.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::sled_db::SledBackend;
use super::{Backend, Entries, Failure, Stop, TxOps, Visit};
use crate::store::{StoreError, TreeName};

type Hook = Box<dyn FnOnce() + Send>;

pub(crate) struct Hooked {
    sled: SledBackend,
    /// Runs once, after the next transaction that commits.
    pub(crate) after_commit: Mutex<Option<Hook>>,
    pub(crate) syncs: AtomicU64,
}

impl Hooked {
    pub(crate) fn open(path: &Path) -> Hooked {
        Hooked {
            sled: SledBackend::open(path, 1 << 20).expect("sled opens"),
            after_commit: Mutex::new(None),
            syncs: AtomicU64::new(0),
        }
    }
}

impl Backend for Hooked {
    fn get(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.sled.get(tree, key)
    }
    fn visit(&self, tree: TreeName, prefix: &[u8], keys_only: bool, visit: &mut Visit<'_>) -> Result<(), StoreError> {
        self.sled.visit(tree, prefix, keys_only, visit)
    }
    fn len(&self, tree: TreeName) -> Result<usize, StoreError> {
        self.sled.len(tree)
    }
    fn transact(&self, body: &mut dyn FnMut(&dyn TxOps) -> Result<(), Stop>) -> Result<(), Failure> {
        let committed = self.sled.transact(body);
        let hook = self
            .after_commit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(hook) = hook {
            hook();
        }
        committed
    }
    fn load(&self, entries: &Entries) -> Result<(), StoreError> {
        self.sled.load(entries)
    }
    fn clear(&self, trees: &[TreeName]) -> Result<(), StoreError> {
        self.sled.clear(trees)
    }
    fn sync(&self) -> Result<(), StoreError> {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        self.sled.sync()
    }
    fn syncs_to_disk(&self) -> bool {
        self.sled.syncs_to_disk()
    }
    fn keep_copy(&self, label: &str) -> Result<String, StoreError> {
        self.sled.keep_copy(label)
    }
    fn size(&self) -> u64 {
        self.sled.size()
    }
}
