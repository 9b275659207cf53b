//! The store: typed records in named trees, multi-record transactions and a
//! durable flush. sled is the embedded backend; everything above this module
//! speaks only `Store`, `Tx` and `Record`, so another backend can sit behind
//! the same calls.

pub mod backend;
pub mod backup;
#[path = "../../migrations/mod.rs"]
pub mod migrations;
pub mod records;
mod rendered;
mod tx;
pub mod views;

pub use tx::{abort, Tx};

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};

use backend::{Backend, Entries, Failure, Stop};

/// The schema this binary writes. Migration steps live in `migrations/`.
pub const SCHEMA_VERSION: u64 = 2;

/// Every tree the store keeps. Entity trees map id → JSON record; index trees
/// map a key → id; relation trees hold `parent ‖ child` keys with empty values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    #[error("store error: {0}")]
    Etcd(#[from] backend::etcd::EtcdError),
    #[error("store record {tree}/{key} is unreadable: {reason}")]
    Corrupt {
        tree: &'static str,
        key: String,
        reason: String,
    },
    #[error("{0}")]
    Open(String),
}

impl StoreError {
    /// Whether the store is out of reach or refuses this server's writes
    /// (etcd without a quorum, a lost leadership), rather than broken.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Etcd(e) => e.is_unavailable() || matches!(e, backend::etcd::EtcdError::Fenced),
            _ => false,
        }
    }
}

/// Why a transaction body stopped: the caller's own error, or the store's.
#[derive(Debug)]
pub enum Abort<E> {
    User(E),
    Store(StoreError),
    /// The backend's own signal (a conflict to retry), passed through.
    Backend(backend::Stop),
}

impl<E> From<backend::Stop> for Abort<E> {
    fn from(e: backend::Stop) -> Self {
        Abort::Backend(e)
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

pub use crate::config::store::StoreLocation as Location;

#[derive(Clone)]
pub struct Store {
    backend: std::sync::Arc<dyn Backend>,
    /// The etcd backend again, for the election (none on sled).
    etcd: Option<std::sync::Arc<backend::etcd::EtcdBackend>>,
    location: std::sync::Arc<Location>,
    /// Transactions share it; a consistent read across trees takes it alone.
    snapshot_gate: std::sync::Arc<std::sync::RwLock<()>>,
    /// The schema version this store was migrated from when opened.
    migrated_from: std::sync::Arc<std::sync::OnceLock<u64>>,
    /// Counts committed transactions, for those who follow changes.
    commits: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    /// Group commit: which commits are on disk, and one sync at a time.
    durable: std::sync::Arc<Durable>,
    rendered: std::sync::Arc<rendered::Rendered>,
}

/// What the disk holds: every commit up to `through` was synced. Callers
/// of `flush` wait for one sync that started after their commit; a sync
/// already covering it is not repeated.
#[derive(Default)]
struct Durable {
    through: std::sync::atomic::AtomicU64,
    syncs: std::sync::atomic::AtomicU64,
    one_at_a_time: tokio::sync::Mutex<()>,
    /// Held to read by a transaction from before it commits until it is
    /// counted; `flush` takes it to write before it reads the count. A
    /// commit is visible to reads before its count moves, so a caller that
    /// saw it (a final queue answer) would otherwise want a count without
    /// it, and skip the sync its answer needs.
    counting: std::sync::RwLock<()>,
}

/// What opening a store does with an older schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Schema {
    /// Migrates it (backed up first).
    BringUp,
    /// Leaves it: the elected leader migrates a shared store.
    LeaveToLeader,
}

/// The store's page cache unless configured (`store_cache_mb`): sled's
/// own default is 1 GiB, which a server fills as its store grows. Records
/// are small and every hot path reads by key, so a few MiB hold what is
/// read often; the rest is the kernel's page cache.
pub const DEFAULT_CACHE_BYTES: u64 = 8 << 20;

/// Trees a sled store keeps a copy of in memory (`backend/mirror.rs`):
/// - the visible volumes, which `GET /volumes` lists whole and
///   `GET /clusters/{id}` asks about one volume at a time (two ids and a
///   map entry, some 150 bytes a volume);
/// - the nodes and devices and their links to clusters and nodes, which
///   every volume read (its mount hosts) and node read walks: one entry
///   per node or device, however many volumes there are.
const MIRRORED: &[TreeName] = &[
    TreeName::VisibleVolumes,
    TreeName::Nodes,
    TreeName::Devices,
    TreeName::ClusterNodes,
    TreeName::NodeDevices,
];

/// Keys of `meta` that sum up the records for the background sweeps, so
/// they can skip walking a whole tree (`ops::retired`, `ops::queue`). They
/// go with the records when a restore or a forced import replaces them,
/// and the sweeps then walk again.
pub const BRICKS_RETIRED_KEY: &str = "bricks_retired";
pub const BRICKS_CLEARED_AT_KEY: &str = "bricks_retired_cleared_at";
pub const QUEUE_NEXT_SWEEP_KEY: &str = "queue_next_sweep";
const RECORD_SUMMARIES: [&str; 3] = [BRICKS_RETIRED_KEY, BRICKS_CLEARED_AT_KEY, QUEUE_NEXT_SWEEP_KEY];

/// Marks a store whose load (a restore or an import, written in parts on
/// backends that cannot hold it in one transaction) did not finish.
pub(crate) const LOAD_INCOMPLETE: &str = "load_incomplete";

/// A key as text: ids and names are UTF-8, checked the fast way.
fn key_text(key: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(key) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(key),
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

fn decode_count(raw: Option<Vec<u8>>) -> u64 {
    raw.and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

fn relation_prefix(parent: &str) -> Vec<u8> {
    let mut key = parent.as_bytes().to_vec();
    key.push(b'/');
    key
}

impl Store {
    /// Opens (or creates) the sled store at `path`, with the default cache.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the sled store at `path` with a page cache of
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
        let backend = backend::sled_db::SledBackend::open(path, cache_bytes)?;
        // This process owns the directory, so the copies cannot go stale.
        let backend = backend::mirror::Mirrored::new(backend, MIRRORED);
        Store::over(
            std::sync::Arc::new(backend),
            Location::Sled(path.to_path_buf()),
            Schema::BringUp,
        )
    }

    /// Opens the store at `location`, brought up to this binary's schema.
    pub fn connect(location: &Location, cache_bytes: u64) -> Result<Store, StoreError> {
        Store::connect_as(location, cache_bytes, Schema::BringUp)
    }

    /// Opens the store at `location` for a server that may share it: a
    /// store on etcd is not migrated here, because only the elected leader
    /// may write; it calls `bring_schema_up` once it leads. A sled store
    /// has one server and is migrated at once. Either way a store newer
    /// than this binary, or with an unfinished load, is refused.
    pub fn connect_shared(location: &Location, cache_bytes: u64) -> Result<Store, StoreError> {
        Store::connect_as(location, cache_bytes, Schema::LeaveToLeader)
    }

    fn connect_as(location: &Location, cache_bytes: u64, schema: Schema) -> Result<Store, StoreError> {
        match location {
            Location::Sled(path) => Store::open_with(path, cache_bytes),
            Location::Etcd(config) => {
                let backend = std::sync::Arc::new(backend::etcd::EtcdBackend::connect(config)?);
                let mut store = Store::over(backend.clone(), location.clone(), schema)?;
                store.etcd = Some(backend);
                Ok(store)
            }
        }
    }

    fn over(backend: std::sync::Arc<dyn Backend>, location: Location, schema: Schema) -> Result<Store, StoreError> {
        let store = Store {
            backend,
            etcd: None,
            location: std::sync::Arc::new(location),
            snapshot_gate: Default::default(),
            migrated_from: Default::default(),
            commits: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)),
            durable: Default::default(),
            rendered: Default::default(),
        };
        store.check_schema(schema)?;
        Ok(store)
    }

    /// Brings the store to this binary's schema, if another server has not
    /// already: what a leader does first on a shared store.
    pub fn bring_schema_up(&self) -> Result<(), StoreError> {
        self.check_schema(Schema::BringUp)
    }

    /// Brings the store to this binary's schema (or, with
    /// `LeaveToLeader`, only checks it can): a new store starts at 1, an
    /// older one is backed up and migrated, a newer one is refused.
    fn check_schema(&self, schema: Schema) -> Result<(), StoreError> {
        if self.backend.get(TreeName::Meta, LOAD_INCOMPLETE.as_bytes())?.is_some() {
            return Err(StoreError::Open(format!(
                "the store {} holds an import, restore or migration that did not finish; run \
                 the import or restore again with --force to replace what it wrote, or copy \
                 back the copy kept before the migration (brickyard db copy --force)",
                self.location
            )));
        }
        let (found, fresh) = match self.backend.get(TreeName::Meta, b"schema_version")? {
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
        if schema == Schema::LeaveToLeader {
            if !fresh {
                tracing::info!(
                    found,
                    to = SCHEMA_VERSION,
                    "the store's schema is older; the leader migrates it"
                );
            }
            return Ok(());
        }
        if !fresh {
            let _ = self.migrated_from.set(found);
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            let backup = self.backend.keep_copy(&format!("v{found}-backup-{stamp}"))?;
            tracing::info!(from = found, to = SCHEMA_VERSION, %backup, "migrating the store");
        }
        self.migrate_from(found)?;
        self.backend.sync()?;
        Ok(())
    }

    /// The older schema version this store was migrated from, if it was.
    pub fn migrated_from(&self) -> Option<u64> {
        self.migrated_from.get().copied()
    }

    /// Runs every missing step and records the new version, all in one transaction.
    fn migrate_from(&self, found: u64) -> Result<(), StoreError> {
        let result = self.backend.transact(&mut |ops| {
            let tx = migrations::MigrationTx::new(ops);
            for step in migrations::pending(found) {
                (step.migrate)(&tx)?;
                tx.tree("meta")?
                    .insert("schema_version", step.to.to_string().as_bytes())?;
            }
            Ok(())
        });
        result.map_err(|e| match e {
            Failure::Aborted => StoreError::Open(format!("store migration from version {found} failed")),
            Failure::Store(e) => StoreError::Open(format!("store migration from version {found} failed: {e}")),
        })
    }

    /// Heketi's DB attributes (`DB_GENERATION_ID` and feature flags).
    pub fn attributes(&self) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        let mut out = std::collections::BTreeMap::new();
        self.backend.visit(TreeName::Attributes, b"", false, &mut |k, v| {
            out.insert(
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            );
            Ok(true)
        })?;
        Ok(out)
    }

    /// The leader election, for a store several servers share (etcd).
    pub fn election(&self) -> Option<std::sync::Arc<backend::etcd::EtcdBackend>> {
        self.etcd.clone()
    }

    /// Where the store lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    pub fn schema_version(&self) -> Result<u64, StoreError> {
        let raw = self.backend.get(TreeName::Meta, b"schema_version")?;
        Ok(raw.and_then(|r| String::from_utf8_lossy(&r).parse().ok()).unwrap_or(0))
    }

    /// Empties every tree but the schema record and the count of starts
    /// (a forced import replaces a store's contents).
    pub fn clear_records(&self) -> Result<(), StoreError> {
        let _alone = self
            .snapshot_gate
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let trees: Vec<TreeName> = TreeName::ALL.into_iter().filter(|t| *t != TreeName::Meta).collect();
        self.backend.clear(&trees)?;
        self.backend
            .transact(&mut |ops| {
                ops.remove(TreeName::Meta, LOAD_INCOMPLETE.as_bytes())?;
                RECORD_SUMMARIES
                    .iter()
                    .try_for_each(|key| ops.remove(TreeName::Meta, key.as_bytes()))
            })
            .map_err(|e| match e {
                Failure::Aborted => StoreError::Open("clearing the store was aborted".into()),
                Failure::Store(e) => e,
            })?;
        // A change outside `transact`: the next flush must sync it.
        self.commits.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Writes `entries` into the emptied store (restores and imports).
    pub(crate) fn load(&self, entries: &Entries) -> Result<(), StoreError> {
        let _alone = self
            .snapshot_gate
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.backend.load(entries)?;
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

    /// Runs `body` as one serialisable transaction over every tree. The
    /// body may run more than once (after a conflict), so it only reads
    /// and writes through its `Tx`.
    pub fn transact<T, E>(&self, body: impl Fn(&Tx<'_>) -> Result<T, Abort<E>>) -> Result<T, TxFailure<E>> {
        self.run_transaction(false, body)
    }

    /// `transact` for writes that may not fit one backend transaction (an
    /// import into an emptied store, which nothing else writes meanwhile):
    /// on etcd they land in parts, and a store where not all did is
    /// refused at the next open until a forced import replaces it.
    pub fn transact_in_parts<T, E>(&self, body: impl Fn(&Tx<'_>) -> Result<T, Abort<E>>) -> Result<T, TxFailure<E>> {
        self.run_transaction(true, body)
    }

    fn run_transaction<T, E>(
        &self,
        in_parts: bool,
        body: impl Fn(&Tx<'_>) -> Result<T, Abort<E>>,
    ) -> Result<T, TxFailure<E>> {
        let _shared = self
            .snapshot_gate
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _counted = self
            .durable
            .counting
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut answer: Option<T> = None;
        let mut refused: Option<E> = None;
        let mut run = |ops: &dyn backend::TxOps| {
            answer = None;
            refused = None;
            match body(&Tx { ops }) {
                Ok(v) => {
                    answer = Some(v);
                    Ok(())
                }
                Err(Abort::User(e)) => {
                    refused = Some(e);
                    Err(Stop::Abort)
                }
                Err(Abort::Store(e)) => Err(Stop::Store(e)),
                Err(Abort::Backend(stop)) => Err(stop),
            }
        };
        let result = if in_parts {
            self.backend.transact_in_parts(&mut run)
        } else {
            self.backend.transact(&mut run)
        };
        match (result, answer, refused) {
            (Ok(()), Some(v), _) => {
                self.commits.send_modify(|n| *n += 1);
                Ok(v)
            }
            (Err(Failure::Aborted), _, Some(e)) => Err(TxFailure::User(e)),
            (Err(Failure::Store(e)), _, _) => Err(TxFailure::Store(e)),
            // A backend that reports what no body said is broken.
            (Ok(()), None, _) | (Err(Failure::Aborted), _, None) => Err(TxFailure::Store(StoreError::Open(
                "the store's transaction ended without the body's answer".into(),
            ))),
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
        if !self.backend.syncs_to_disk() {
            return Ok(());
        }
        // Every transaction that committed before this call is counted.
        // The wait is for transactions in flight to return, on this thread,
        // as the store's reads and transactions run on the caller's thread:
        // handing it to the blocking pool cost a thread per waiting flush
        // under concurrent creates (7-12 MiB more at rest at 5,000 volumes).
        drop(
            self.durable
                .counting
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
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
        let backend = self.backend.clone();
        tokio::task::spawn_blocking(move || backend.sync())
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
        self.backend.sync()
    }

    fn get_raw(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend.get(tree, key)
    }

    pub fn get<R: Record>(&self, id: &str) -> Result<Option<R>, StoreError> {
        match self.get_raw(R::TREE, id.as_bytes())? {
            None => Ok(None),
            Some(raw) => decode(R::TREE, id.as_bytes(), &raw).map(Some),
        }
    }

    /// All records of one kind, in id order.
    pub fn scan<R: Record>(&self) -> Result<Vec<R>, StoreError> {
        let mut out = Vec::new();
        self.visit_records(&mut |r| out.push(r))?;
        Ok(out)
    }

    /// Every record of `R`'s tree in key order, decoded one at a time and
    /// handed to `visit`: a sweep that keeps a few of 50,000 holds only
    /// those.
    pub fn visit_records<R: Record>(&self, visit: &mut dyn FnMut(R)) -> Result<(), StoreError> {
        self.backend.visit(R::TREE, b"", false, &mut |k, v| {
            visit(decode(R::TREE, k, v)?);
            Ok(true)
        })
    }

    /// Keys of `tree` under `prefix` (the prefix cut off), in order.
    fn keys_under(&self, tree: TreeName, prefix: &[u8]) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        self.backend.visit(tree, prefix, true, &mut |k, _| {
            out.push(key_text(&k[prefix.len()..]).into_owned());
            Ok(true)
        })?;
        Ok(out)
    }

    /// An index's keys in order, without collecting them.
    pub fn visit_index_keys(&self, index: TreeName, visit: &mut dyn FnMut(&str)) -> Result<(), StoreError> {
        self.backend.visit(index, b"", true, &mut |k, _| {
            visit(&key_text(k));
            Ok(true)
        })
    }

    /// An index's entries (key, value) in key order, without collecting them.
    pub fn visit_index(&self, index: TreeName, visit: &mut dyn FnMut(&str, &str)) -> Result<(), StoreError> {
        self.backend.visit(index, b"", false, &mut |k, v| {
            visit(&key_text(k), &key_text(v));
            Ok(true)
        })
    }

    /// What `render` makes of `subject` from `tree` (reading nothing
    /// else), kept while the tree is unchanged where the backend can tell
    /// (`rendered.rs`).
    pub fn rendered(
        &self,
        tree: TreeName,
        subject: &str,
        render: &mut dyn FnMut() -> Result<Vec<u8>, StoreError>,
    ) -> Result<bytes::Bytes, StoreError> {
        self.rendered.get(&*self.backend, tree, subject, render)
    }

    /// All ids of one kind, in id order, without decoding records.
    pub fn ids<R: Record>(&self) -> Result<Vec<String>, StoreError> {
        self.keys_under(R::TREE, b"")
    }

    pub fn count<R: Record>(&self) -> usize {
        self.backend.len(R::TREE).unwrap_or_default()
    }

    /// Clusters, nodes and volumes held: a store with none is empty for
    /// imports, restores and copies.
    pub fn occupied(&self) -> usize {
        self.count::<records::ClusterRecord>()
            + self.count::<records::NodeRecord>()
            + self.count::<records::VolumeRecord>()
    }

    /// Children of `parent` in a relation tree, in id order.
    pub fn children(&self, relation: TreeName, parent: &str) -> Result<Vec<String>, StoreError> {
        self.keys_under(relation, &relation_prefix(parent))
    }

    pub fn has_children(&self, relation: TreeName, parent: &str) -> Result<bool, StoreError> {
        Ok(self.child_count(relation, parent)? > 0)
    }

    /// How many children `parent` has, from the counts kept with the links
    /// (one read, however many children).
    pub fn child_count(&self, relation: TreeName, parent: &str) -> Result<u64, StoreError> {
        Ok(decode_count(
            self.get_raw(TreeName::Counts, &count_key(relation, parent))?,
        ))
    }

    /// All keys of an index tree, in order.
    pub fn index_keys(&self, index: TreeName) -> Result<Vec<String>, StoreError> {
        self.keys_under(index, b"")
    }

    pub fn index_get(&self, index: TreeName, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get_raw(index, key.as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Every entry of every tree, raw (backups and store copies).
    pub(crate) fn raw_entries(&self) -> Result<Vec<backend::TreeEntries>, StoreError> {
        let mut out = Vec::new();
        for t in TreeName::ALL {
            let mut pairs = Vec::new();
            self.backend.visit(t, b"", false, &mut |k, v| {
                pairs.push((k.to_vec(), v.to_vec()));
                Ok(true)
            })?;
            out.push((t, pairs));
        }
        Ok(out)
    }

    /// Bytes the backend holds, for benchmarks and metrics.
    pub fn size_on_disk(&self) -> u64 {
        self.backend.size()
    }
}

#[cfg(test)]
mod tests;
