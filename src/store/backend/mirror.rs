//! An in-memory copy of chosen trees in front of a backend that one
//! process owns (sled holds an exclusive lock on its directory): reads and
//! listings of those trees come from memory, writes go to the backend and,
//! once a transaction commits, to the copy. `GET /volumes` lists every
//! visible volume; walking sled's tree for 50,000 keys took tens of
//! milliseconds, the copy takes a few.
//!
//! A copy is loaded on its first read, while no transaction commits. Not
//! for etcd: other replicas commit there, so a copy could be stale.
//!
//! No read of a copy runs between a commit reaching the backend and its
//! writes reaching the copies: a commit holds `visible` to write for both,
//! every read of a copy holds it to read. Without that, a client that saw
//! an operation finish (in the queue, read from the backend) could then
//! read a copy that did not show the operation's changes yet.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

use super::{Backend, Entries, Failure, Stop, TxOps, Visit};
use crate::store::{StoreError, TreeName};

/// Keys and values held inline up to a hex id's 32 bytes: a listing walks
/// 50,000 keys, and one allocation each made that walk a chase through
/// the heap.
type Bytes = smallvec::SmallVec<[u8; 32]>;
type Copy = BTreeMap<Bytes, Bytes>;

/// A write a transaction body made to a mirrored tree: `None` removes.
type Write = (TreeName, Vec<u8>, Option<Vec<u8>>);

/// A mirrored tree's copy, `None` until its first read, and how many
/// commits have written the tree (`Backend::version`).
struct Slot {
    tree: TreeName,
    copy: RwLock<Option<Copy>>,
    /// Changed only under `visible` held to write, read under it held to
    /// read: the lock orders it.
    version: AtomicU64,
}

pub struct Mirrored<B> {
    inner: B,
    /// One slot per mirrored tree.
    copies: Vec<Slot>,
    /// Held to write while a transaction commits and its writes reach the
    /// copies; to read by every read (and load) of a copy from another
    /// thread.
    visible: RwLock<()>,
    /// Held while a copy loads (under `visible` to read), so two reads do
    /// not both load it.
    loading: Mutex<()>,
}

thread_local! {
    /// Whether this thread runs a transaction body: its reads (through
    /// the store, outside the body's own view) must not wait for the
    /// commit they are part of.
    static COMMITTING: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as committing until dropped (then as it was).
struct Committing {
    was: bool,
}

impl Committing {
    fn start() -> Committing {
        Committing {
            was: COMMITTING.with(|c| c.replace(true)),
        }
    }
}

impl Drop for Committing {
    fn drop(&mut self) {
        COMMITTING.with(|c| c.set(self.was));
    }
}

impl<B: Backend> Mirrored<B> {
    pub fn new(inner: B, trees: &[TreeName]) -> Mirrored<B> {
        Mirrored {
            inner,
            copies: trees
                .iter()
                .map(|t| Slot {
                    tree: *t,
                    copy: RwLock::new(None),
                    version: AtomicU64::new(0),
                })
                .collect(),
            visible: RwLock::new(()),
            loading: Mutex::new(()),
        }
    }

    /// Runs `read` while no commit is between the backend and the copies
    /// (at once on a thread inside a transaction body, which holds them;
    /// such a read must find the copy loaded: loading reads sled, which
    /// blocks reads outside the body's own view while the body runs).
    fn seen<T>(&self, read: impl FnOnce() -> T) -> T {
        if COMMITTING.with(Cell::get) {
            return read();
        }
        let _seen = self.visible.read().unwrap_or_else(PoisonError::into_inner);
        read()
    }

    fn slot(&self, tree: TreeName) -> Option<&Slot> {
        self.copies.iter().find(|slot| slot.tree == tree)
    }

    /// Runs `read` on the copy of `tree`, loading it first if needed,
    /// while no commit is between the backend and the copies. Reads of
    /// other trees need no wait: a reader that saw a commit there waits
    /// here, at its next read of a copy, until the copies show it.
    fn with_copy<T>(&self, slot: &Slot, read: impl FnOnce(&Copy) -> T) -> Result<T, StoreError> {
        self.seen(|| self.read_copy(slot, read))
    }

    fn read_copy<T>(&self, slot: &Slot, read: impl FnOnce(&Copy) -> T) -> Result<T, StoreError> {
        if let Some(copy) = slot.copy.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
            return Ok(read(copy));
        }
        let _alone = self.loading.lock().unwrap_or_else(PoisonError::into_inner);
        let mut held = slot.copy.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(copy) = held.as_ref() {
            return Ok(read(copy));
        }
        let mut copy = Copy::new();
        self.inner.visit(slot.tree, b"", false, &mut |k, v| {
            copy.insert(Bytes::from_slice(k), Bytes::from_slice(v));
            Ok(true)
        })?;
        Ok(read(held.insert(copy)))
    }

    /// Forgets every copy (under `visible` held to write): the next read
    /// loads it again.
    fn drop_copies(&self) {
        for slot in &self.copies {
            *slot.copy.write().unwrap_or_else(PoisonError::into_inner) = None;
            slot.version.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Under `visible` held to write.
    fn apply(&self, writes: Vec<Write>) {
        for (tree, key, value) in writes {
            let Some(slot) = self.slot(tree) else { continue };
            slot.version.fetch_add(1, Ordering::Relaxed);
            let mut held = slot.copy.write().unwrap_or_else(PoisonError::into_inner);
            let Some(copy) = held.as_mut() else { continue };
            match value {
                Some(v) => copy.insert(Bytes::from_slice(&key), Bytes::from_slice(&v)),
                None => copy.remove(key.as_slice()),
            };
        }
    }

    fn transact_with(
        &self,
        body: &mut dyn FnMut(&dyn TxOps) -> Result<(), Stop>,
        run: impl FnOnce(&B, &mut dyn FnMut(&dyn TxOps) -> Result<(), Stop>) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let writes = RefCell::new(Vec::new());
        let mut recorded = |ops: &dyn TxOps| {
            // A body run again after a conflict starts from nothing.
            writes.borrow_mut().clear();
            body(&Recording {
                ops,
                mirror: self,
                writes: &writes,
            })
        };
        let _in_order = self.visible.write().unwrap_or_else(PoisonError::into_inner);
        let _committing = Committing::start();
        run(&self.inner, &mut recorded)?;
        self.apply(writes.into_inner());
        Ok(())
    }
}

/// The body's view: the backend's, recording writes to mirrored trees.
struct Recording<'a, B> {
    ops: &'a dyn TxOps,
    mirror: &'a Mirrored<B>,
    writes: &'a RefCell<Vec<Write>>,
}

impl<B: Backend> Recording<'_, B> {
    fn record(&self, tree: TreeName, key: &[u8], value: Option<&[u8]>) {
        if self.mirror.slot(tree).is_some() {
            self.writes
                .borrow_mut()
                .push((tree, key.to_vec(), value.map(<[u8]>::to_vec)));
        }
    }
}

impl<B: Backend> TxOps for Recording<'_, B> {
    fn get(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, Stop> {
        self.ops.get(tree, key)
    }

    fn put(&self, tree: TreeName, key: &[u8], value: &[u8]) -> Result<(), Stop> {
        self.ops.put(tree, key, value)?;
        self.record(tree, key, Some(value));
        Ok(())
    }

    fn remove(&self, tree: TreeName, key: &[u8]) -> Result<(), Stop> {
        self.ops.remove(tree, key)?;
        self.record(tree, key, None);
        Ok(())
    }
}

impl<B: Backend> Backend for Mirrored<B> {
    fn get(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.slot(tree) {
            Some(slot) => self.with_copy(slot, |copy| copy.get(key).map(|v| v.to_vec())),
            None => self.inner.get(tree, key),
        }
    }

    fn visit(&self, tree: TreeName, prefix: &[u8], keys_only: bool, visit: &mut Visit<'_>) -> Result<(), StoreError> {
        let Some(slot) = self.slot(tree) else {
            return self.inner.visit(tree, prefix, keys_only, visit);
        };
        // The visitor runs under the copy's read lock; visitors never use the store.
        self.with_copy(slot, |copy| {
            let from = (std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded);
            for (k, v) in copy.range::<[u8], _>(from) {
                if !prefix.is_empty() && !k.starts_with(prefix) {
                    break;
                }
                if !visit(k, if keys_only { &[] } else { v })? {
                    break;
                }
            }
            Ok(())
        })?
    }

    fn len(&self, tree: TreeName) -> Result<usize, StoreError> {
        match self.slot(tree) {
            Some(slot) => self.with_copy(slot, BTreeMap::len),
            None => self.inner.len(tree),
        }
    }

    fn version(&self, tree: TreeName) -> Option<u64> {
        let slot = self.slot(tree)?;
        Some(self.seen(|| slot.version.load(Ordering::Relaxed)))
    }

    fn transact(&self, body: &mut dyn FnMut(&dyn TxOps) -> Result<(), Stop>) -> Result<(), Failure> {
        self.transact_with(body, |inner, body| inner.transact(body))
    }

    fn transact_in_parts(&self, body: &mut dyn FnMut(&dyn TxOps) -> Result<(), Stop>) -> Result<(), Failure> {
        self.transact_with(body, |inner, body| inner.transact_in_parts(body))
    }

    fn load(&self, entries: &Entries) -> Result<(), StoreError> {
        let _in_order = self.visible.write().unwrap_or_else(PoisonError::into_inner);
        let loaded = self.inner.load(entries);
        self.drop_copies();
        loaded
    }

    fn clear(&self, trees: &[TreeName]) -> Result<(), StoreError> {
        let _in_order = self.visible.write().unwrap_or_else(PoisonError::into_inner);
        let cleared = self.inner.clear(trees);
        self.drop_copies();
        cleared
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.inner.sync()
    }

    fn syncs_to_disk(&self) -> bool {
        self.inner.syncs_to_disk()
    }

    fn keep_copy(&self, label: &str) -> Result<String, StoreError> {
        self.inner.keep_copy(label)
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }
}

#[cfg(test)]
mod tests {
    use super::super::hooked::Hooked;
    use super::super::sled_db::SledBackend;
    use super::*;

    const T: TreeName = TreeName::VisibleVolumes;

    fn keys(b: &dyn Backend, prefix: &[u8]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        b.visit(T, prefix, false, &mut |k, v| {
            out.push((String::from_utf8_lossy(k).into(), String::from_utf8_lossy(v).into()));
            Ok(true)
        })
        .unwrap();
        out
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.into(), v.into())
    }

    #[test]
    fn the_copy_follows_commits_and_ignores_aborted_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let sled = SledBackend::open(&dir.path().join("db"), 1 << 20).unwrap();
        // Written before the mirror exists: the first read loads it.
        sled.transact(&mut |ops| ops.put(T, b"a1", b"c1")).unwrap();
        let m = Mirrored::new(sled, &[T]);
        assert_eq!(keys(&m, b""), [pair("a1", "c1")]);

        m.transact(&mut |ops| {
            ops.put(T, b"b2", b"c2")?;
            ops.put(T, b"a3", b"c3")?;
            ops.remove(T, b"a1")
        })
        .unwrap();
        assert_eq!(keys(&m, b""), [pair("a3", "c3"), pair("b2", "c2")]);
        assert_eq!(keys(&m, b"a"), [pair("a3", "c3")]);
        assert_eq!(m.get(T, b"b2").unwrap(), Some(b"c2".to_vec()));
        assert_eq!(m.get(T, b"a1").unwrap(), None);
        assert_eq!(m.len(T).unwrap(), 2);

        // A body that stops writes nothing to the backend or the copy.
        let stopped = m.transact(&mut |ops| {
            ops.put(T, b"z9", b"c9")?;
            Err(Stop::Abort)
        });
        assert!(matches!(stopped, Err(Failure::Aborted)));
        assert_eq!(m.get(T, b"z9").unwrap(), None);
        assert_eq!(m.inner.get(T, b"z9").unwrap(), None);

        // The copy and the backend agree.
        let mut backend = Vec::new();
        m.inner
            .visit(T, b"", false, &mut |k, v| {
                backend.push((String::from_utf8_lossy(k).into(), String::from_utf8_lossy(v).into()));
                Ok(true)
            })
            .unwrap();
        assert_eq!(keys(&m, b""), backend);
    }

    #[test]
    fn no_read_sees_a_commit_before_the_copies_show_it() {
        // A tree the mirror does not copy: reads of it go to the backend.
        const U: TreeName = TreeName::Counts;
        let dir = tempfile::tempdir().unwrap();
        let hooked = Hooked::open(&dir.path().join("db"));
        let m = std::sync::Arc::new(Mirrored::new(hooked, &[T]));
        assert!(keys(&*m, b"").is_empty(), "the copy is loaded");
        let reader = m.clone();
        let (tell, told) = std::sync::mpsc::channel();
        *m.inner.after_commit.lock().unwrap() = Some(Box::new(move || {
            // Another thread reads both trees, the one the backend answers
            // first, while the commit is in the backend only.
            let read = std::thread::spawn(move || (reader.get(U, b"n").unwrap(), reader.get(T, b"n").unwrap()));
            // A read that did not wait would be done by now.
            std::thread::sleep(std::time::Duration::from_millis(100));
            tell.send(read).unwrap();
        }));
        m.transact(&mut |ops| {
            ops.put(U, b"n", b"1")?;
            ops.put(T, b"n", b"1")
        })
        .unwrap();
        let seen = told.recv().unwrap().join().unwrap();
        assert_eq!(seen, (Some(b"1".to_vec()), Some(b"1".to_vec())));
    }

    #[test]
    fn a_read_of_a_copy_inside_a_transaction_body_does_not_wait_for_its_commit() {
        let dir = tempfile::tempdir().unwrap();
        let m = Mirrored::new(SledBackend::open(&dir.path().join("db"), 1 << 20).unwrap(), &[T]);
        m.transact(&mut |ops| ops.put(T, b"k", b"v")).unwrap();
        assert_eq!(m.get(T, b"k").unwrap(), Some(b"v".to_vec()), "the copy is loaded");
        let mut seen = None;
        m.transact(&mut |ops| {
            // Through the backend, not the body's own view (sled itself
            // blocks such a read of a tree it answers, so only copies).
            seen = Some(m.get(T, b"k").unwrap());
            ops.put(T, b"k", b"w")
        })
        .unwrap();
        assert_eq!(seen, Some(Some(b"v".to_vec())));
        assert_eq!(m.get(T, b"k").unwrap(), Some(b"w".to_vec()));
    }

    #[test]
    fn loads_and_clears_are_seen_by_the_next_read() {
        let dir = tempfile::tempdir().unwrap();
        let m = Mirrored::new(SledBackend::open(&dir.path().join("db"), 1 << 20).unwrap(), &[T]);
        m.transact(&mut |ops| ops.put(T, b"k1", b"v1")).unwrap();
        assert_eq!(keys(&m, b"").len(), 1);
        m.clear(&[T]).unwrap();
        assert!(keys(&m, b"").is_empty());
        m.load(&[(T, vec![(b"k2".to_vec(), b"v2".to_vec())])]).unwrap();
        assert_eq!(keys(&m, b""), [pair("k2", "v2")]);
        // Other trees pass straight through.
        m.transact(&mut |ops| ops.put(TreeName::Counts, b"n", b"1")).unwrap();
        assert_eq!(m.get(TreeName::Counts, b"n").unwrap(), Some(b"1".to_vec()));
    }
}
