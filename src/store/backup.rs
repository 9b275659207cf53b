//! Brickyard's own backup format: every tree of the store, raw, taken as
//! one consistent snapshot while the server runs (`GET /backup/db`), and
//! restored into an empty store with `db import`.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, TreeName};

pub const FORMAT: &str = "brickyard-backup";

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Backup {
    pub format: String,
    pub schema_version: u64,
    /// Tree name → `[key, value]` pairs, base64.
    pub trees: BTreeMap<String, Vec<[String; 2]>>,
}

impl Store {
    /// Every tree at one moment: no transaction commits while it is read.
    pub fn backup(&self) -> Result<Backup, StoreError> {
        self.consistent_read(|| {
            let trees = self
                .raw_entries()?
                .into_iter()
                .map(|(t, pairs)| {
                    let pairs = pairs
                        .into_iter()
                        .map(|(k, v)| [STANDARD.encode(k), STANDARD.encode(v)])
                        .collect();
                    (t.name().to_string(), pairs)
                })
                .collect();
            Ok(Backup {
                format: FORMAT.into(),
                schema_version: self.schema_version()?,
                trees,
            })
        })
    }

    /// Writes a backup into this store in one transaction, replacing what
    /// was there, then migrates it if it came from an older version.
    pub fn restore(&self, backup: &Backup) -> Result<(), StoreError> {
        if backup.format != FORMAT {
            return Err(StoreError::Open(format!(
                "not a Brickyard backup: format {:?}",
                backup.format
            )));
        }
        if backup.schema_version > super::SCHEMA_VERSION {
            return Err(StoreError::Open(format!(
                "the backup has schema version {}, newer than this binary supports ({})",
                backup.schema_version,
                super::SCHEMA_VERSION
            )));
        }
        let mut decoded = Vec::new();
        for t in TreeName::ALL {
            let pairs = backup.trees.get(t.name()).map(Vec::as_slice).unwrap_or_default();
            let mut out = Vec::with_capacity(pairs.len());
            for [k, v] in pairs {
                let (k, v) = (STANDARD.decode(k), STANDARD.decode(v));
                match (k, v) {
                    (Ok(k), Ok(v)) => out.push((k, v)),
                    _ => return Err(StoreError::Open(format!("backup tree {} holds bad base64", t.name()))),
                }
            }
            decoded.push((t, out));
        }
        for name in backup.trees.keys() {
            if !TreeName::ALL.iter().any(|t| t.name() == name) {
                return Err(StoreError::Open(format!("backup holds unknown tree {name:?}")));
            }
        }
        self.clear_records()?;
        self.load(&decoded)?;
        self.bring_schema_up()?;
        self.flush_blocking()?;
        Ok(())
    }
}
