//! Versioned store migrations, one module per schema step. Each step's
//! `migrate` takes a store of the version before to its own version; steps
//! touch raw trees only, never today's record types, so an old step keeps
//! meaning what it meant when it shipped. `Store::open` runs the missing
//! steps in one transaction, after a backup copy.

pub mod v2_attributes;

use super::backend::{Stop, TxOps};
use super::{StoreError, TreeName};

pub type StepResult = Result<(), Stop>;

/// The store being migrated, inside the migration's transaction: raw
/// trees by name, so a step never depends on today's `TreeName`s or records.
pub struct MigrationTx<'a> {
    ops: &'a dyn TxOps,
}

/// One tree of the store being migrated.
pub struct MigrationTree<'a> {
    ops: &'a dyn TxOps,
    tree: TreeName,
}

impl<'a> MigrationTx<'a> {
    pub fn new(ops: &'a dyn TxOps) -> MigrationTx<'a> {
        MigrationTx { ops }
    }

    pub fn tree(&self, name: &str) -> Result<MigrationTree<'a>, Stop> {
        match TreeName::ALL.into_iter().find(|t| t.name() == name) {
            Some(tree) => Ok(MigrationTree { ops: self.ops, tree }),
            None => Err(Stop::Store(StoreError::Open(format!(
                "migration needs tree {name:?}, which is not open"
            )))),
        }
    }
}

impl MigrationTree<'_> {
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, Stop> {
        self.ops.get(self.tree, key.as_ref())
    }

    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), Stop> {
        self.ops.put(self.tree, key.as_ref(), value.as_ref())
    }
}

pub struct Step {
    /// The version a store has after this step.
    pub to: u64,
    pub name: &'static str,
    pub migrate: fn(&MigrationTx<'_>) -> StepResult,
}

/// Every step, in order. Version 1 is the first schema and has no step.
pub const STEPS: &[Step] = &[Step {
    to: 2,
    name: "v2_attributes",
    migrate: v2_attributes::migrate,
}];

/// The steps a store at `version` still needs.
pub fn pending(version: u64) -> impl Iterator<Item = &'static Step> {
    STEPS.iter().filter(move |s| s.to > version)
}
