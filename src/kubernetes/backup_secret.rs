//! Heketi's `backup_db_to_kube_secret`: after changes, the whole store,
//! gzipped, goes into the Secret `heketi-db-backup` (key `heketi.db.gz`)
//! in Brickyard's own namespace; and at start-up a missing or empty store
//! is restored from where that Secret is mounted (`/backupdb`), as Heketi's
//! image does. The payload is Brickyard's backup document (`GET
//! /backup/db`), not Heketi's Bolt file.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::PostParams;
use kube::{Api, Client};

use crate::store::backup::Backup;
use crate::store::records::{ClusterRecord, NodeRecord, VolumeRecord};
use crate::store::Store;

/// The key Heketi stores its database under.
pub const SECRET_KEY: &str = "heketi.db.gz";
/// Commits closer together than this share one Secret write.
const MIN_INTERVAL: Duration = Duration::from_secs(2);
/// What the API server accepts in one object.
const SECRET_LIMIT: usize = 1024 * 1024;

pub fn compress(backup: &Backup) -> Result<Vec<u8>, String> {
    let json = serde_json::to_vec(backup).map_err(|e| e.to_string())?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&json).map_err(|e| e.to_string())?;
    gz.finish().map_err(|e| e.to_string())
}

/// What a `heketi.db.gz` holds.
#[derive(Debug)]
pub enum Payload {
    Brickyard(Box<Backup>),
    /// Heketi's own Bolt database: Brickyard cannot read it.
    HeketiBolt,
}

pub fn decompress(gz: &[u8]) -> Result<Payload, String> {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("not gzip data: {e}"))?;
    // A Bolt file starts with a page header (16 bytes), then its magic.
    if bytes.get(16..20) == Some(&[0xED, 0xDA, 0x0C, 0xED][..]) {
        return Ok(Payload::HeketiBolt);
    }
    serde_json::from_slice(&bytes)
        .map(|b| Payload::Brickyard(Box::new(b)))
        .map_err(|e| format!("neither a Brickyard backup nor a Heketi database: {e}"))
}

fn is_empty(store: &Store) -> bool {
    store.count::<ClusterRecord>() + store.count::<NodeRecord>() + store.count::<VolumeRecord>() == 0
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

/// At start-up: when `dir/heketi.db.gz` exists and the store at
/// `store_path` is missing or empty, restores it. A store with contents is
/// never overwritten (Heketi's image overwrote it on every start).
pub fn restore_into_empty(store_path: &Path, dir: &Path) -> Result<Restore, String> {
    let file = dir.join(SECRET_KEY);
    let gz = match std::fs::read(&file) {
        Ok(gz) if gz.is_empty() => return Ok(Restore::Nothing),
        Ok(gz) => gz,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Restore::Nothing),
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    if store_path.is_dir() {
        let store = Store::open(store_path).map_err(|e| e.to_string())?;
        if !is_empty(&store) {
            return Ok(Restore::Kept(format!(
                "{} holds a backup, but the store {} has contents: left as it is",
                file.display(),
                store_path.display()
            )));
        }
    }
    let backup = match decompress(&gz).map_err(|e| format!("{}: {e}", file.display()))? {
        Payload::HeketiBolt => {
            return Ok(Restore::Unusable(format!(
                "{} holds a Heketi database, which Brickyard cannot read: export it with \
                 `heketi db export` and load it with `brickyard db import`; starting without it",
                file.display()
            )))
        }
        Payload::Brickyard(backup) => backup,
    };
    let held = restore_durably(store_path, &backup, &file)?;
    Ok(Restore::Restored(format!(
        "restored the store {} from {} ({held})",
        store_path.display(),
        file.display(),
    )))
}

/// Restores `backup` (read from `source`) into the store at `store_path`
/// and flushes; says what the store now holds.
fn restore_durably(store_path: &Path, backup: &Backup, source: &Path) -> Result<String, String> {
    let store = Store::open(store_path).map_err(|e| e.to_string())?;
    store
        .restore(backup)
        .map_err(|e| format!("cannot restore {}: {e}", source.display()))?;
    store.flush_blocking().map_err(|e| e.to_string())?;
    Ok(format!(
        "{} clusters, {} volumes",
        store.count::<ClusterRecord>(),
        store.count::<VolumeRecord>()
    ))
}

/// `setup-openshift-heketi-storage` copies the backup (the Secret
/// `heketi-storage-secret`) as a plain file to where the store will be, as
/// Heketi's flow copies its Bolt file. At start-up such a file becomes the
/// store: it is moved to `<path>.setup-backup` and restored into a new store
/// at `<path>`. Anything else at the path is left for `Store::open` to refuse.
pub fn adopt_backup_file(store_path: &Path) -> Result<Restore, String> {
    if !store_path.is_file() {
        return Ok(Restore::Nothing);
    }
    let text = std::fs::read(store_path).map_err(|e| format!("cannot read {}: {e}", store_path.display()))?;
    let Ok(backup) = serde_json::from_slice::<Backup>(&text) else {
        return Ok(Restore::Nothing);
    };
    let mut kept = store_path.as_os_str().to_owned();
    kept.push(".setup-backup");
    let kept = std::path::PathBuf::from(kept);
    std::fs::rename(store_path, &kept).map_err(|e| format!("cannot move {} aside: {e}", store_path.display()))?;
    let held = restore_durably(store_path, &backup, &kept)?;
    Ok(Restore::Restored(format!(
        "the store {} was a backup file: restored into a new store ({held}); the file is kept as {}",
        store_path.display(),
        kept.display()
    )))
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

    /// Creates the Secret or replaces its data.
    pub async fn write(&self, gz: Vec<u8>) -> Result<(), String> {
        if gz.len() > SECRET_LIMIT {
            return Err(format!(
                "the backup is {} bytes, more than a Secret holds ({SECRET_LIMIT})",
                gz.len()
            ));
        }
        let data = BTreeMap::from([(SECRET_KEY.to_string(), ByteString(gz))]);
        let params = PostParams::default();
        let existing = self
            .secrets
            .get_opt(&self.name)
            .await
            .map_err(|e| format!("cannot read Secret {}: {e}", self.name))?;
        match existing {
            Some(mut secret) => {
                secret.data = Some(data);
                self.secrets
                    .replace(&self.name, &params, &secret)
                    .await
                    .map_err(|e| format!("cannot update Secret {}: {e}", self.name))?;
            }
            None => {
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        labels: Some(BTreeMap::from([
                            ("heketi".to_string(), "db".to_string()),
                            ("app.kubernetes.io/name".to_string(), "brickyard".to_string()),
                        ])),
                        ..ObjectMeta::default()
                    },
                    data: Some(data),
                    ..Secret::default()
                };
                self.secrets
                    .create(&params, &secret)
                    .await
                    .map_err(|e| format!("cannot create Secret {}: {e}", self.name))?;
            }
        }
        Ok(())
    }

    /// One write after each burst of commits, for as long as the server
    /// runs. Failures are logged, never fatal, as in Heketi.
    pub async fn follow(self, store: Store) {
        let mut commits = store.commits();
        loop {
            if commits.changed().await.is_err() {
                return;
            }
            let snapshot = store.clone();
            let gz = tokio::task::spawn_blocking(move || {
                let backup = snapshot.backup().map_err(|e| e.to_string())?;
                compress(&backup)
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            match gz {
                Ok(gz) => match self.write(gz).await {
                    Ok(()) => tracing::debug!(secret = self.name, "store backed up to the Secret"),
                    Err(e) => tracing::warn!("store backup to the Secret failed: {e}"),
                },
                Err(e) => tracing::warn!("store backup failed: {e}"),
            }
            tokio::time::sleep(MIN_INTERVAL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_survives_compression_and_a_bolt_file_is_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        let backup = store.backup().unwrap();
        match decompress(&compress(&backup).unwrap()).unwrap() {
            Payload::Brickyard(b) => assert_eq!(*b, backup),
            other => panic!("{other:?}"),
        }
        // The first page of a Bolt file: page header, then the meta magic.
        let mut bolt = vec![0u8; 64];
        bolt[16..20].copy_from_slice(&[0xED, 0xDA, 0x0C, 0xED]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bolt).unwrap();
        assert!(matches!(decompress(&gz.finish().unwrap()), Ok(Payload::HeketiBolt)));
        assert!(decompress(b"plain").unwrap_err().starts_with("not gzip data"));
    }
}
