//! The store: typed records in named trees, multi-record transactions and a
//! durable flush. sled is the embedded backend; everything above this module
//! speaks only `Store`, `Tx` and `Record`, so another backend can sit behind
//! the same calls.

pub mod backup;
#[path = "../../migrations/mod.rs"]
pub mod migrations;
pub mod records;
mod tx;
pub mod views;

pub use tx::{abort, Tx};

use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, UnabortableTransactionError};
use sled::Transactional;

/// The schema this binary writes. Migration steps live in `migrations/`.
pub const SCHEMA_VERSION: u64 = 2;

/// Every tree the store keeps. Entity trees map id → JSON record; index trees
/// map a key → id; relation trees hold `parent ‖ child` keys with empty values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeName {
    Meta,
    Clusters,
    Nodes,
    Devices,
    Bricks,
    Volumes,
    Queue,
    Journal,
    /// Manage hostname → node id.
    ManageHosts,
    /// Storage hostname → node id.
    StorageHosts,
    /// `node id/device name` → device id.
    DeviceNames,
    /// `cluster id/volume name` → volume id.
    VolumeNames,
    /// Volumes clients may see (not being created, deleted or cloned from):
    /// volume id → cluster id.
    VisibleVolumes,
    /// `device id/thin pool` → comma-separated ids of the bricks in it.
    PoolBricks,
    ClusterNodes,
    ClusterVolumes,
    ClusterBlockVolumes,
    NodeDevices,
    DeviceBricks,
    VolumeBricks,
    /// `relation/parent` → number of children, so transactions can ask
    /// "has children?" without scanning.
    Counts,
    /// Heketi's DB attributes (schema 2): key → value.
    Attributes,
    /// gluster-block volumes. New trees read as empty in older stores, so
    /// adding one is no schema step.
    BlockVolumes,
}

impl TreeName {
    pub const ALL: [TreeName; 23] = [
        TreeName::Meta,
        TreeName::Clusters,
        TreeName::Nodes,
        TreeName::Devices,
        TreeName::Bricks,
        TreeName::Volumes,
        TreeName::Queue,
        TreeName::Journal,
        TreeName::ManageHosts,
        TreeName::StorageHosts,
        TreeName::DeviceNames,
        TreeName::VolumeNames,
        TreeName::VisibleVolumes,
        TreeName::PoolBricks,
        TreeName::ClusterNodes,
        TreeName::ClusterVolumes,
        TreeName::ClusterBlockVolumes,
        TreeName::NodeDevices,
        TreeName::DeviceBricks,
        TreeName::VolumeBricks,
        TreeName::Counts,
        TreeName::Attributes,
        TreeName::BlockVolumes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TreeName::Meta => "meta",
            TreeName::Clusters => "clusters",
            TreeName::Nodes => "nodes",
            TreeName::Devices => "devices",
            TreeName::Bricks => "bricks",
            TreeName::Volumes => "volumes",
            TreeName::Queue => "queue",
            TreeName::Journal => "journal",
            TreeName::ManageHosts => "idx_manage_hosts",
            TreeName::StorageHosts => "idx_storage_hosts",
            TreeName::DeviceNames => "idx_device_names",
            TreeName::VolumeNames => "idx_volume_names",
            TreeName::VisibleVolumes => "idx_visible_volumes",
            TreeName::PoolBricks => "idx_pool_bricks",
            TreeName::ClusterNodes => "rel_cluster_nodes",
            TreeName::ClusterVolumes => "rel_cluster_volumes",
            TreeName::ClusterBlockVolumes => "rel_cluster_blockvolumes",
            TreeName::NodeDevices => "rel_node_devices",
            TreeName::DeviceBricks => "rel_device_bricks",
            TreeName::VolumeBricks => "rel_volume_bricks",
            TreeName::Counts => "counts",
            TreeName::Attributes => "attributes",
            TreeName::BlockVolumes => "blockvolumes",
        }
    }

    fn index(self) -> usize {
        TreeName::ALL.iter().position(|t| *t == self).unwrap_or_default()
    }
}

/// A record kept in one entity tree, keyed by its id.
pub trait Record: Serialize + DeserializeOwned {
    const TREE: TreeName;
    fn id(&self) -> &str;
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store error: {0}")]
    Sled(#[from] sled::Error),
    #[error("store record {tree}/{key} is unreadable: {reason}")]
    Corrupt {
        tree: &'static str,
        key: String,
        reason: String,
    },
    #[error("{0}")]
    Open(String),
}

/// Why a transaction body stopped: the caller's own error, or the store's.
#[derive(Debug)]
pub enum Abort<E> {
    User(E),
    Store(StoreError),
    Sled(UnabortableTransactionError),
}

impl<E> From<UnabortableTransactionError> for Abort<E> {
    fn from(e: UnabortableTransactionError) -> Self {
        Abort::Sled(e)
    }
}

impl<E> From<StoreError> for Abort<E> {
    fn from(e: StoreError) -> Self {
        Abort::Store(e)
    }
}

/// The outcome of a failed transaction.
#[derive(Debug)]
pub enum TxFailure<E> {
    User(E),
    Store(StoreError),
}

impl<E: std::fmt::Display> std::fmt::Display for TxFailure<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TxFailure::User(e) => e.fmt(f),
            TxFailure::Store(e) => e.fmt(f),
        }
    }
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    path: PathBuf,
    /// Transactions share it; a consistent read across trees takes it alone.
    snapshot_gate: std::sync::Arc<std::sync::RwLock<()>>,
    /// The schema version this store was migrated from when opened.
    migrated_from: std::sync::Arc<std::sync::OnceLock<u64>>,
    /// Counts committed transactions, for those who follow changes.
    commits: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    /// Group commit: which commits are on disk, and one sync at a time.
    durable: std::sync::Arc<Durable>,
}

/// What the disk holds: every commit up to `through` was synced. Callers
/// of `flush` wait for one sync that started after their commit; a sync
/// already covering it is not repeated.
#[derive(Default)]
struct Durable {
    through: std::sync::atomic::AtomicU64,
    syncs: std::sync::atomic::AtomicU64,
    one_at_a_time: tokio::sync::Mutex<()>,
}

/// How long opening waits for the store's lock: a store this process has
/// just closed is released by sled's background thread a moment later
/// (seen when a restored store is opened right after the restore).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The store's page cache unless configured (`store_cache_mb`): sled's
/// own default is 1 GiB, which a server fills as its store grows. Records
/// are small and every hot path reads by key, so a few MiB hold what is
/// read often; the rest is the kernel's page cache.
pub const DEFAULT_CACHE_BYTES: u64 = 8 << 20;

/// Opens sled, waiting (bounded) while the store's lock is held; a lock
/// held longer (another server on the same store) is sled's error.
fn open_sled(path: &Path, cache_bytes: u64) -> Result<sled::Db, sled::Error> {
    wait_for_lock(&path.join("db"));
    sled::Config::new().path(path).cache_capacity(cache_bytes).open()
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

fn decode<R: DeserializeOwned>(tree: TreeName, key: &[u8], bytes: &[u8]) -> Result<R, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        tree: tree.name(),
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

fn encode<R: Serialize>(record: &R) -> Vec<u8> {
    // Records are plain data (strings, numbers, maps with string keys), which
    // serde_json always encodes.
    serde_json::to_vec(record).unwrap_or_default()
}

fn relation_key(parent: &str, child: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(parent.len() + 1 + child.len());
    key.extend_from_slice(parent.as_bytes());
    key.push(b'/');
    key.extend_from_slice(child.as_bytes());
    key
}

fn count_key(relation: TreeName, parent: &str) -> Vec<u8> {
    format!("{}/{parent}", relation.name()).into_bytes()
}

fn decode_count(raw: Option<sled::IVec>) -> u64 {
    raw.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

fn relation_prefix(parent: &str) -> Vec<u8> {
    let mut key = parent.as_bytes().to_vec();
    key.push(b'/');
    key
}

impl Store {
    /// Opens (or creates) the store at `path`, with the default cache.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the store at `path` with a page cache of
    /// `cache_bytes`.
    pub fn open_with(path: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        if path.is_file() {
            return Err(StoreError::Open(format!(
                "{} is a file, not a Brickyard store. If it is a Heketi database, export it \
                 with `heketi db export --dbfile={} --jsonfile=heketi.json` and import that \
                 with `brickyard db import`.",
                path.display(),
                path.display()
            )));
        }
        let db = open_sled(path, cache_bytes)
            .map_err(|e| StoreError::Open(format!("cannot open store {}: {e}", path.display())))?;
        let trees = TreeName::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<Vec<_>, _>>()?;
        let store = Store {
            db,
            trees,
            path: path.to_path_buf(),
            snapshot_gate: Default::default(),
            migrated_from: Default::default(),
            commits: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)),
            durable: Default::default(),
        };
        store.check_schema()?;
        Ok(store)
    }

    /// Brings the store to this binary's schema: a new store starts at 1,
    /// an older one is backed up and migrated, a newer one is refused.
    fn check_schema(&self) -> Result<(), StoreError> {
        let meta = self.tree(TreeName::Meta);
        let (found, fresh) = match meta.get("schema_version")? {
            None => (1, true),
            Some(raw) => (
                String::from_utf8_lossy(&raw)
                    .parse::<u64>()
                    .map_err(|_| StoreError::Open("store schema version record is unreadable".into()))?,
                false,
            ),
        };
        if found > SCHEMA_VERSION {
            return Err(StoreError::Open(format!(
                "store schema version {found} is newer than this binary supports \
                 ({SCHEMA_VERSION}); run a newer Brickyard"
            )));
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        if !fresh {
            let _ = self.migrated_from.set(found);
            let backup = self.backup_copy(found)?;
            tracing::info!(from = found, to = SCHEMA_VERSION, backup = %backup.display(), "migrating the store");
        }
        self.migrate_from(found)?;
        self.db.flush()?;
        Ok(())
    }

    /// The older schema version this store was migrated from, if it was.
    pub fn migrated_from(&self) -> Option<u64> {
        self.migrated_from.get().copied()
    }

    /// A consistent copy of the whole store beside it, before migrating.
    fn backup_copy(&self, version: u64) -> Result<PathBuf, StoreError> {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut backup = self.path.with_file_name(format!("{name}.v{version}-backup-{stamp}"));
        for n in 1..100 {
            if !backup.exists() {
                break;
            }
            backup = self
                .path
                .with_file_name(format!("{name}.v{version}-backup-{stamp}-{n}"));
        }
        let failed = |e: sled::Error| {
            StoreError::Open(format!(
                "cannot write the pre-migration backup {}: {e}",
                backup.display()
            ))
        };
        // Tree by tree: sled's own import panics on I/O errors.
        let copy = sled::open(&backup).map_err(failed)?;
        for name in self.db.tree_names() {
            let (from, to) = (self.db.open_tree(&name)?, copy.open_tree(&name).map_err(failed)?);
            for kv in from.iter() {
                let (k, v) = kv?;
                to.insert(k, v).map_err(failed)?;
            }
        }
        copy.flush().map_err(failed)?;
        Ok(backup)
    }

    /// Runs every missing step and records the new version, all in one transaction.
    fn migrate_from(&self, found: u64) -> Result<(), StoreError> {
        let result = self.trees[..].transaction(|views| {
            let named = TreeName::ALL.iter().map(|t| t.name()).zip(views.iter()).collect();
            let tx = migrations::MigrationTx::new(named);
            for step in migrations::pending(found) {
                (step.migrate)(&tx)?;
                tx.tree("meta")?
                    .insert("schema_version", step.to.to_string().as_bytes())?;
            }
            Ok(())
        });
        result.map_err(|e| match e {
            TransactionError::Abort(why) => {
                StoreError::Open(format!("store migration from version {found} failed: {why}"))
            }
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    /// Heketi's DB attributes (`DB_GENERATION_ID` and feature flags).
    pub fn attributes(&self) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        self.tree(TreeName::Attributes)
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                ))
            })
            .collect()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn schema_version(&self) -> Result<u64, StoreError> {
        let raw = self.tree(TreeName::Meta).get("schema_version")?;
        Ok(raw.and_then(|r| String::from_utf8_lossy(&r).parse().ok()).unwrap_or(0))
    }

    fn tree(&self, name: TreeName) -> &sled::Tree {
        &self.trees[name.index()]
    }

    /// Runs `body` as one serialisable transaction over every tree.
    /// Empties every tree but the schema record (a forced import replaces
    /// a store's contents).
    pub fn clear_records(&self) -> Result<(), StoreError> {
        let _alone = self
            .snapshot_gate
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for t in TreeName::ALL.into_iter().filter(|t| *t != TreeName::Meta) {
            self.tree(t).clear()?;
        }
        // A change outside `transact`: the next flush must sync it.
        self.commits.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Runs `read` while no transaction commits: every tree it reads shows
    /// the same moment (exports, backups).
    pub fn consistent_read<T>(&self, read: impl FnOnce() -> T) -> T {
        let _alone = self
            .snapshot_gate
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        read()
    }

    pub fn transact<T, E>(&self, body: impl Fn(&Tx<'_>) -> Result<T, Abort<E>>) -> Result<T, TxFailure<E>> {
        let _shared = self
            .snapshot_gate
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let result = self.trees[..].transaction(|views| {
            let tx = Tx { views };
            body(&tx).map_err(|abort| match abort {
                Abort::User(e) => ConflictableTransactionError::Abort(TxFailure::User(e)),
                Abort::Store(e) => ConflictableTransactionError::Abort(TxFailure::Store(e)),
                Abort::Sled(e) => e.into(),
            })
        });
        match result {
            Ok(v) => {
                self.commits.send_modify(|n| *n += 1);
                Ok(v)
            }
            Err(TransactionError::Abort(failure)) => Err(failure),
            Err(TransactionError::Storage(e)) => Err(TxFailure::Store(e.into())),
        }
    }

    /// Follows commits: the receiver sees the count change after each
    /// committed transaction (many commits may show as one change).
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Makes every committed change durable. Callers await this before a
    /// client hears of success. Concurrent callers share one disk sync, and
    /// a caller whose commits an earlier sync already covered syncs nothing.
    pub async fn flush(&self) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        let wanted = *self.commits.borrow();
        if self.durable.through.load(Ordering::Acquire) >= wanted {
            return Ok(());
        }
        let _one = self.durable.one_at_a_time.lock().await;
        // The sync that held the lock may have covered these commits.
        if self.durable.through.load(Ordering::Acquire) >= wanted {
            return Ok(());
        }
        // Counted before the sync: every commit counted is already applied
        // (the count moves after a transaction returns), so the sync holds it.
        let covers = *self.commits.borrow();
        // sled's own flush_async can stall under many concurrent callers;
        // its blocking flush on the blocking pool does not.
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StoreError::Open(format!("flush task failed: {e}")))??;
        self.durable.through.fetch_max(covers, Ordering::Release);
        self.durable.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Disk syncs `flush` has made since the store was opened.
    pub fn syncs(&self) -> u64 {
        self.durable.syncs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `flush` for start-up code that runs before the async runtime serves.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    pub fn get<R: Record>(&self, id: &str) -> Result<Option<R>, StoreError> {
        match self.tree(R::TREE).get(id.as_bytes())? {
            None => Ok(None),
            Some(raw) => decode(R::TREE, id.as_bytes(), &raw).map(Some),
        }
    }

    /// All records of one kind, in id order.
    pub fn scan<R: Record>(&self) -> Result<Vec<R>, StoreError> {
        self.tree(R::TREE)
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                decode(R::TREE, &k, &v)
            })
            .collect()
    }

    /// All ids of one kind, in id order, without decoding records.
    pub fn ids<R: Record>(&self) -> Result<Vec<String>, StoreError> {
        self.tree(R::TREE)
            .iter()
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect()
    }

    pub fn count<R: Record>(&self) -> usize {
        self.tree(R::TREE).len()
    }

    /// Children of `parent` in a relation tree, in id order.
    pub fn children(&self, relation: TreeName, parent: &str) -> Result<Vec<String>, StoreError> {
        let prefix = relation_prefix(parent);
        self.tree(relation)
            .scan_prefix(&prefix)
            .keys()
            .map(|k| {
                let k = k?;
                Ok(String::from_utf8_lossy(&k[prefix.len()..]).into_owned())
            })
            .collect()
    }

    pub fn has_children(&self, relation: TreeName, parent: &str) -> Result<bool, StoreError> {
        Ok(self.child_count(relation, parent)? > 0)
    }

    /// How many children `parent` has, from the counts kept with the links
    /// (one read, however many children).
    pub fn child_count(&self, relation: TreeName, parent: &str) -> Result<u64, StoreError> {
        Ok(decode_count(
            self.tree(TreeName::Counts).get(count_key(relation, parent))?,
        ))
    }

    /// All keys of an index tree, in order.
    pub fn index_keys(&self, index: TreeName) -> Result<Vec<String>, StoreError> {
        self.tree(index)
            .iter()
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect()
    }

    pub fn index_get(&self, index: TreeName, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .tree(index)
            .get(key.as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Waits for changes to one tree (used by the queue to wake pollers).
    pub fn watch(&self, tree: TreeName, prefix: &str) -> sled::Subscriber {
        self.tree(tree).watch_prefix(prefix.as_bytes())
    }

    /// Bytes on disk, for benchmarks and metrics.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
