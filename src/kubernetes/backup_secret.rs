//! Heketi's `backup_db_to_kube_secret`: after changes, the whole store,
//! gzipped, goes into the Secret `heketi-db-backup` (key `heketi.db.gz`)
//! in Brickyard's own namespace; and at start-up a missing or empty store
//! is restored from where that Secret is mounted (`/backupdb`), as Heketi's
//! image does. The payload is Brickyard's backup document (`GET
//! /backup/db`), not Heketi's Bolt file.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::PostParams;
use kube::{Api, Client};

use crate::store::backup::Backup;
use crate::store::records::{ClusterRecord, VolumeRecord};
use crate::store::{Store, StoreError};

/// The key Heketi stores its database under.
pub const SECRET_KEY: &str = "heketi.db.gz";
/// Commits closer together than this share one Secret write.
const MIN_INTERVAL: Duration = Duration::from_secs(2);
/// One Secret write may take this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest pause between retries of a failed write.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(60);
/// What the API server accepts in one object.
const SECRET_LIMIT: usize = 1024 * 1024;

/// A backup that could not be gzipped.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Gzip(#[from] std::io::Error),
}

pub fn compress(backup: &Backup) -> Result<Vec<u8>, CompressError> {
    let json = serde_json::to_vec(backup)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&json)?;
    Ok(gz.finish()?)
}

/// A `heketi.db.gz` that holds nothing Brickyard knows.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    #[error("not gzip data: {0}")]
    NotGzip(#[source] std::io::Error),
    #[error("neither a Brickyard backup nor a Heketi database: {0}")]
    Unknown(#[source] serde_json::Error),
}

/// What a `heketi.db.gz` holds.
#[derive(Debug)]
pub enum Payload {
    Brickyard(Box<Backup>),
    /// Heketi's own Bolt database: Brickyard cannot read it.
    HeketiBolt,
}

pub fn decompress(gz: &[u8]) -> Result<Payload, DecompressError> {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut bytes)
        .map_err(DecompressError::NotGzip)?;
    // A Bolt file starts with a page header (16 bytes), then its magic.
    if bytes.get(16..20) == Some(&[0xED, 0xDA, 0x0C, 0xED][..]) {
        return Ok(Payload::HeketiBolt);
    }
    serde_json::from_slice(&bytes)
        .map(|b| Payload::Brickyard(Box::new(b)))
        .map_err(DecompressError::Unknown)
}

fn is_empty(store: &Store) -> bool {
    store.occupied() == 0
}

/// Why a start-up restore failed; the store may not be used as it is.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: DecompressError,
    },
    #[error("{} is no backup: {source}", path.display())]
    NoBackup {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot restore {}: {source}", path.display())]
    Restore {
        path: PathBuf,
        #[source]
        source: StoreError,
    },
    /// Opening or flushing the store.
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot move {} aside: {source}", path.display())]
    MoveAside {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot clear {}: {source}", path.display())]
    Clear {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot move the restored store into place: {0}")]
    MoveIntoPlace(#[source] std::io::Error),
}

/// What the start-up restore did, for the log.
#[derive(Debug, PartialEq)]
pub enum Restore {
    /// No backup is mounted.
    Nothing,
    /// The store has contents of its own (the usual case after the first start).
    Kept(String),
    /// The mount holds something Brickyard cannot use.
    Unusable(String),
    Restored(String),
}

/// At start-up, on the opened store: when `dir/heketi.db.gz` exists and the
/// store is empty, restores it. A store with contents is never overwritten
/// (Heketi's image overwrote its database on every start).
pub fn restore_into_empty(store: &Store, dir: &Path) -> Result<Restore, RestoreError> {
    let file = dir.join(SECRET_KEY);
    let gz = match std::fs::read(&file) {
        Ok(gz) if gz.is_empty() => return Ok(Restore::Nothing),
        Ok(gz) => gz,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Restore::Nothing),
        Err(source) => return Err(RestoreError::Read { path: file, source }),
    };
    if !is_empty(store) {
        return Ok(Restore::Kept(format!(
            "{} holds a backup, but the store {} has contents: left as it is",
            file.display(),
            store.location()
        )));
    }
    let backup = match decompress(&gz).map_err(|source| RestoreError::Unreadable {
        path: file.clone(),
        source,
    })? {
        Payload::HeketiBolt => {
            return Ok(Restore::Unusable(format!(
                "{} holds a Heketi database, which Brickyard cannot read: export it with \
                 `heketi db export` and load it with `brickyard db import`; starting without it",
                file.display()
            )))
        }
        Payload::Brickyard(backup) => backup,
    };
    let held = restore_durably(store, &backup, &file)?;
    Ok(Restore::Restored(format!(
        "restored the store {} from {} ({held})",
        store.location(),
        file.display(),
    )))
}

/// Restores `backup` (read from `source`) into `store` and flushes; says
/// what the store now holds.
fn restore_durably(store: &Store, backup: &Backup, from: &Path) -> Result<String, RestoreError> {
    store.restore(backup).map_err(|source| RestoreError::Restore {
        path: from.to_path_buf(),
        source,
    })?;
    store.flush_blocking()?;
    Ok(format!(
        "{} clusters, {} volumes",
        store.count::<ClusterRecord>(),
        store.count::<VolumeRecord>()
    ))
}

fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `setup-openshift-heketi-storage` copies the backup (the Secret
/// `heketi-storage-secret`) as a plain file to where the store will be, as
/// Heketi's flow copies its Bolt file. At start-up such a file becomes the
/// store: it is moved to `<path>.setup-backup`, restored into
/// `<path>.restoring`, and that is renamed into place. Each step survives
/// a crash: the next start picks up from the kept file. Anything else at
/// the path is left for `Store::open` to refuse.
pub fn adopt_backup_file(store_path: &Path) -> Result<Restore, RestoreError> {
    let kept = beside(store_path, ".setup-backup");
    let staging = beside(store_path, ".restoring");
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| RestoreError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    if store_path.is_file() {
        if serde_json::from_slice::<Backup>(&read(store_path)?).is_err() {
            return Ok(Restore::Nothing);
        }
        std::fs::rename(store_path, &kept).map_err(|source| RestoreError::MoveAside {
            path: store_path.to_path_buf(),
            source,
        })?;
    } else if store_path.exists() || !kept.is_file() {
        return Ok(Restore::Nothing);
    }
    let backup: Backup = serde_json::from_slice(&read(&kept)?).map_err(|source| RestoreError::NoBackup {
        path: kept.clone(),
        source,
    })?;
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|source| RestoreError::Clear {
            path: staging.clone(),
            source,
        })?;
    }
    let held = {
        let store = Store::open(&staging)?;
        restore_durably(&store, &backup, &kept)?
    };
    std::fs::rename(&staging, store_path).map_err(RestoreError::MoveIntoPlace)?;
    Ok(Restore::Restored(format!(
        "the store {} was a backup file: restored into a new store ({held}); the file is kept as {}",
        store_path.display(),
        kept.display()
    )))
}

/// Why the Secret could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read Secret {name}: {source}")]
    Read {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot create Secret {name}: {source}")]
    Create {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot keep the Heketi database in Secret {copy}: {source}")]
    KeepHeketi {
        copy: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot update Secret {name}: {source}")]
    Update {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Why a backup did not reach the Secret.
#[derive(Debug, thiserror::Error)]
enum BackupError {
    /// Gzipped bytes beyond what a Secret holds.
    #[error("the backup is {0} bytes, more than a Secret holds")]
    TooLarge(usize),
    #[error("{0}")]
    Snapshot(#[source] StoreError),
    #[error("{0}")]
    Compress(#[from] CompressError),
    #[error("{0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("no answer from the API server within {WRITE_TIMEOUT:?}")]
    NoAnswer(#[source] tokio::time::error::Elapsed),
    #[error("{0}")]
    Write(#[from] SecretError),
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Writes backups into one Secret.
pub struct SecretBackup {
    secrets: Api<Secret>,
    name: String,
}

impl SecretBackup {
    pub fn new(client: Client, namespace: &str, name: &str) -> SecretBackup {
        SecretBackup {
            secrets: Api::namespaced(client, namespace),
            name: name.to_string(),
        }
    }

    fn secret(name: &str, data: BTreeMap<String, ByteString>) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                labels: Some(BTreeMap::from([
                    ("heketi".to_string(), "db".to_string()),
                    ("app.kubernetes.io/name".to_string(), "brickyard".to_string()),
                ])),
                ..ObjectMeta::default()
            },
            data: Some(data),
            ..Secret::default()
        }
    }

    /// Where a Heketi database found in the Secret is kept.
    pub fn heketi_copy_name(&self) -> String {
        format!("{}-from-heketi", self.name)
    }

    /// Creates the Secret or replaces its data. A Heketi database in it is
    /// first copied to `<name>-from-heketi`, so replacing it loses nothing.
    pub async fn write(&self, gz: Vec<u8>) -> Result<(), SecretError> {
        let data = BTreeMap::from([(SECRET_KEY.to_string(), ByteString(gz))]);
        let params = PostParams::default();
        let existing = self
            .secrets
            .get_opt(&self.name)
            .await
            .map_err(|source| SecretError::Read {
                name: self.name.clone(),
                source,
            })?;
        let Some(mut secret) = existing else {
            self.secrets
                .create(&params, &Self::secret(&self.name, data))
                .await
                .map_err(|source| SecretError::Create {
                    name: self.name.clone(),
                    source,
                })?;
            return Ok(());
        };
        let held = secret.data.as_ref().and_then(|d| d.get(SECRET_KEY)).cloned();
        if let Some(held) = held {
            if matches!(decompress(&held.0), Ok(Payload::HeketiBolt)) {
                let copy = self.heketi_copy_name();
                let kept = Self::secret(&copy, BTreeMap::from([(SECRET_KEY.to_string(), held)]));
                match self.secrets.create(&params, &kept).await {
                    Ok(_) => tracing::warn!(
                        "Secret {} held a Heketi database: copied to Secret {copy} before Brickyard's first backup",
                        self.name
                    ),
                    Err(kube::Error::Api(e)) if e.code == 409 => {}
                    Err(source) => return Err(SecretError::KeepHeketi { copy, source }),
                }
            }
        }
        secret.data = Some(data);
        self.secrets
            .replace(&self.name, &params, &secret)
            .await
            .map_err(|source| SecretError::Update {
                name: self.name.clone(),
                source,
            })?;
        Ok(())
    }

    async fn back_up(&self, store: &Store) -> Result<(), BackupError> {
        let snapshot = store.clone();
        let gz = tokio::task::spawn_blocking(move || {
            let backup = snapshot.backup().map_err(BackupError::Snapshot)?;
            Ok::<_, BackupError>(compress(&backup)?)
        })
        .await??;
        if gz.len() > SECRET_LIMIT {
            return Err(BackupError::TooLarge(gz.len()));
        }
        Ok(tokio::time::timeout(WRITE_TIMEOUT, self.write(gz))
            .await
            .map_err(BackupError::NoAnswer)??)
    }

    /// A write at start-up, then one after each burst of commits, until
    /// `stop` turns true; then a last write if anything changed since the
    /// last good one. A failed write is retried (backing off up to a
    /// minute) until one succeeds; failures are logged, never fatal, as in
    /// Heketi.
    pub async fn follow(self, store: Store, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut commits = store.commits();
        let mut due = true;
        let mut pause = MIN_INTERVAL;
        loop {
            if !due {
                tokio::select! {
                    changed = commits.changed() => if changed.is_err() { return },
                    _ = stopped(&mut stop) => return self.last_write(&store, commits.has_changed().unwrap_or(false)).await,
                }
            }
            commits.mark_unchanged();
            match self.back_up(&store).await {
                Ok(()) => {
                    tracing::debug!(secret = self.name, "store backed up to the Secret");
                    due = false;
                    pause = MIN_INTERVAL;
                }
                // Retrying cannot shrink the store: wait for the next change.
                Err(BackupError::TooLarge(bytes)) => {
                    tracing::warn!(
                        secret = self.name,
                        "the store backup is {bytes} bytes gzipped, more than a Secret holds \
                         ({SECRET_LIMIT}); the Secret keeps its last backup, the store volume has everything"
                    );
                    due = false;
                    pause = MIN_INTERVAL;
                }
                Err(e) => {
                    tracing::warn!(secret = self.name, "store backup to the Secret failed, will retry: {e}");
                    due = true;
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stopped(&mut stop) => {
                    let dirty = due || commits.has_changed().unwrap_or(false);
                    return self.last_write(&store, dirty).await;
                }
            }
        }
    }

    /// At shutdown: the changes of the last moments reach the Secret too.
    async fn last_write(&self, store: &Store, dirty: bool) {
        if !dirty {
            return;
        }
        match self.back_up(store).await {
            Ok(()) => tracing::info!(secret = self.name, "store backed up to the Secret at shutdown"),
            Err(e) => tracing::warn!(secret = self.name, "store backup to the Secret at shutdown failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backup of a store holding one cluster.
    fn one_cluster_backup(dir: &Path) -> Backup {
        let store = Store::open(&dir.join("source")).unwrap();
        let cluster = ClusterRecord {
            id: "c1".into(),
            block: true,
            file: true,
        };
        store.transact(|tx| tx.put::<_, String>(&cluster)).unwrap();
        store.backup().unwrap()
    }

    #[test]
    fn a_backup_file_at_the_store_path_becomes_the_store_even_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let backup = one_cluster_backup(dir.path());
        let path = dir.path().join("heketi.db");
        std::fs::write(&path, serde_json::to_vec(&backup).unwrap()).unwrap();
        assert!(matches!(adopt_backup_file(&path), Ok(Restore::Restored(_))));
        assert_eq!(Store::open(&path).unwrap().count::<ClusterRecord>(), 1);
        assert!(beside(&path, ".setup-backup").is_file());
        assert!(matches!(adopt_backup_file(&path), Ok(Restore::Nothing)), "adopted once");

        // A crash after the file was moved aside, with a half-made store.
        let path = dir.path().join("crashed.db");
        std::fs::write(beside(&path, ".setup-backup"), serde_json::to_vec(&backup).unwrap()).unwrap();
        std::fs::create_dir_all(beside(&path, ".restoring")).unwrap();
        std::fs::write(beside(&path, ".restoring").join("junk"), b"half").unwrap();
        assert!(matches!(adopt_backup_file(&path), Ok(Restore::Restored(_))));
        assert_eq!(Store::open(&path).unwrap().count::<ClusterRecord>(), 1);

        // Anything else at the path is not touched.
        let other = dir.path().join("other.db");
        std::fs::write(&other, b"bolt or whatever").unwrap();
        assert!(matches!(adopt_backup_file(&other), Ok(Restore::Nothing)));
        assert!(other.is_file());
    }

    #[test]
    fn a_backup_survives_compression_and_a_bolt_file_is_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        let backup = store.backup().unwrap();
        match decompress(&compress(&backup).unwrap()).unwrap() {
            Payload::Brickyard(b) => assert_eq!(*b, backup),
            other @ Payload::HeketiBolt => panic!("{other:?}"),
        }
        // The first page of a Bolt file: page header, then the meta magic.
        let mut bolt = vec![0u8; 64];
        bolt[16..20].copy_from_slice(&[0xED, 0xDA, 0x0C, 0xED]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bolt).unwrap();
        assert!(matches!(decompress(&gz.finish().unwrap()), Ok(Payload::HeketiBolt)));
        assert!(decompress(b"plain")
            .unwrap_err()
            .to_string()
            .starts_with("not gzip data"));
    }
}
