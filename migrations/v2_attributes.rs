//! Version 2: a store-wide `attributes` tree, Heketi's `dbattributeentries`.
//! It carries the DB generation id that exports show and imports renew, and
//! the feature flags a Heketi export of this store must state.

use super::{MigrationTx, StepResult};

/// The flags Heketi sets on a database that has all its upgrades.
pub const FLAGS: [(&str, &str); 4] = [
    ("DB_BRICK_HAS_SUBTYPE_FIELD", "yes"),
    ("DB_CLUSTER_HAS_FILE_BLOCK_FLAG", "yes"),
    ("DB_DEVICE_HAS_ID_META", "yes"),
    ("DB_HAS_PENDING_OPS_BUCKET", "yes"),
];

pub const GENERATION_ID: &str = "DB_GENERATION_ID";

pub fn migrate(tx: &MigrationTx<'_>) -> StepResult {
    let attributes = tx.tree("attributes")?;
    for (key, value) in FLAGS {
        if attributes.get(key)?.is_none() {
            attributes.insert(key, value)?;
        }
    }
    if attributes.get(GENERATION_ID)?.is_none() {
        let id = uuid::Uuid::new_v4().simple().to_string();
        attributes.insert(GENERATION_ID, id.as_bytes())?;
    }
    Ok(())
}
