//! Versioned store migrations, one module per schema step. Each step's
//! `migrate` takes a store of the version before to its own version; steps
//! touch raw trees only, never today's record types, so an old step keeps
//! meaning what it meant when it shipped. `Store::open` runs the missing
//! steps in one transaction, after a backup copy.

pub mod v2_attributes;

use std::collections::HashMap;

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

pub type StepResult = Result<(), ConflictableTransactionError<String>>;

/// The trees of the store being migrated, by name, inside the transaction.
pub struct MigrationTx<'a> {
    trees: HashMap<&'static str, &'a TransactionalTree>,
}

impl<'a> MigrationTx<'a> {
    pub fn new(trees: HashMap<&'static str, &'a TransactionalTree>) -> MigrationTx<'a> {
        MigrationTx { trees }
    }

    pub fn tree(&self, name: &str) -> Result<&'a TransactionalTree, ConflictableTransactionError<String>> {
        self.trees.get(name).copied().ok_or_else(|| {
            ConflictableTransactionError::Abort(format!("migration needs tree {name:?}, which is not open"))
        })
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
