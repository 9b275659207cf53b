//! The embedded backend: one sled tree per `TreeName`, transactions over
//! all of them (sled runs a transaction body under its global write lock,
//! so they are serialisable), `sync` = sled's flush. The on-disk layout is
//! the one every earlier Brickyard wrote.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use ::sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use ::sled::Transactional;

use super::{Backend, Entries, Failure, Stop, TxOps, Visit};
use crate::store::{StoreError, TreeName};

/// How long opening waits for the store's lock: a store this process has
/// just closed is released by sled's background thread a moment later
/// (seen when a restored store is opened right after the restore).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub struct SledBackend {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    path: PathBuf,
}

impl SledBackend {
    pub fn open(path: &Path, cache_bytes: u64) -> Result<SledBackend, StoreError> {
        wait_for_lock(&path.join("db"));
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| StoreError::Open(format!("cannot open store {}: {e}", path.display())))?;
        let trees = TreeName::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SledBackend {
            db,
            trees,
            path: path.to_path_buf(),
        })
    }

    fn tree(&self, name: TreeName) -> &sled::Tree {
        &self.trees[name.index()]
    }
}

/// Waits until nobody holds the lock sled takes on `db_file` (an exclusive
/// `flock`), or `LOCK_WAIT` has passed. A missing file has no lock.
fn wait_for_lock(db_file: &Path) {
    use std::os::fd::AsRawFd;
    let Ok(file) = std::fs::File::open(db_file) else {
        return;
    };
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        // SAFETY: flock on a descriptor this function owns for its duration.
        let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if free {
            // SAFETY: as above; sled takes the lock itself next.
            unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
            return;
        }
        if std::time::Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

impl From<UnabortableTransactionError> for Stop {
    fn from(e: UnabortableTransactionError) -> Self {
        match e {
            UnabortableTransactionError::Conflict => Stop::Conflict,
            UnabortableTransactionError::Storage(e) => Stop::Store(e.into()),
        }
    }
}

struct SledTx<'a> {
    views: &'a [TransactionalTree],
}

impl TxOps for SledTx<'_> {
    fn get(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, Stop> {
        Ok(self.views[tree.index()].get(key)?.map(|v| v.to_vec()))
    }

    fn put(&self, tree: TreeName, key: &[u8], value: &[u8]) -> Result<(), Stop> {
        self.views[tree.index()].insert(key, value)?;
        Ok(())
    }

    fn remove(&self, tree: TreeName, key: &[u8]) -> Result<(), Stop> {
        self.views[tree.index()].remove(key)?;
        Ok(())
    }
}

impl Backend for SledBackend {
    fn get(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree(tree).get(key)?.map(|v| v.to_vec()))
    }

    fn visit(&self, tree: TreeName, prefix: &[u8], keys_only: bool, visit: &mut Visit<'_>) -> Result<(), StoreError> {
        for kv in self.tree(tree).scan_prefix(prefix) {
            let (k, v) = kv?;
            let value: &[u8] = if keys_only { &[] } else { &v };
            if !visit(&k, value)? {
                break;
            }
        }
        Ok(())
    }

    fn len(&self, tree: TreeName) -> Result<usize, StoreError> {
        Ok(self.tree(tree).len())
    }

    fn transact(&self, body: &mut dyn FnMut(&dyn TxOps) -> Result<(), Stop>) -> Result<(), Failure> {
        // sled wants `Fn` and calls it again after a conflict, one call at a time.
        let body = RefCell::new(body);
        let result = self.trees[..].transaction(|views| {
            let ops = SledTx { views };
            let mut body = body.borrow_mut();
            match (*body)(&ops) {
                Ok(()) => Ok(()),
                Err(Stop::Abort) => Err(ConflictableTransactionError::Abort(Failure::Aborted)),
                Err(Stop::Store(e)) => Err(ConflictableTransactionError::Abort(Failure::Store(e))),
                Err(Stop::Conflict) => Err(ConflictableTransactionError::Conflict),
            }
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(failure)) => Err(failure),
            Err(TransactionError::Storage(e)) => Err(Failure::Store(e.into())),
        }
    }

    fn load(&self, entries: &Entries) -> Result<(), StoreError> {
        let result = self.trees[..].transaction(|views| {
            for (tree, pairs) in entries {
                for (k, v) in pairs {
                    views[tree.index()].insert(k.as_slice(), v.as_slice())?;
                }
            }
            Ok::<_, ConflictableTransactionError<()>>(())
        });
        result.map_err(|e| StoreError::Open(format!("loading the store failed: {e:?}")))
    }

    fn clear(&self, trees: &[TreeName]) -> Result<(), StoreError> {
        for t in trees {
            self.tree(*t).clear()?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn syncs_to_disk(&self) -> bool {
        true
    }

    fn keep_copy(&self, label: &str) -> Result<String, StoreError> {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut copy_path = self.path.with_file_name(format!("{name}.{label}"));
        for n in 1..100 {
            if !copy_path.exists() {
                break;
            }
            copy_path = self.path.with_file_name(format!("{name}.{label}-{n}"));
        }
        let failed = |e: sled::Error| {
            StoreError::Open(format!(
                "cannot write the pre-migration backup {}: {e}",
                copy_path.display()
            ))
        };
        // Tree by tree: sled's own import panics on I/O errors.
        let copy = sled::open(&copy_path).map_err(failed)?;
        for name in self.db.tree_names() {
            let (from, to) = (self.db.open_tree(&name)?, copy.open_tree(&name).map_err(failed)?);
            for kv in from.iter() {
                let (k, v) = kv?;
                to.insert(k, v).map_err(failed)?;
            }
        }
        copy.flush().map_err(failed)?;
        Ok(copy_path.display().to_string())
    }

    fn size(&self) -> u64 {
        self.db.size_on_disk().unwrap_or_default()
    }
}
