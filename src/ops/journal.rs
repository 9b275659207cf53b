//! The operation journal: one entry per accepted long-running request,
//! written before the first executor call and removed by the committing
//! transaction. Entries left by a crash drive start-up recovery.
//!
//! `Action` is the registry of operation kinds: the stored entry names the
//! kind and carries the operation's data; `Action::op` hands it to the
//! runner as an `Operation`. Adding a kind is its own file and one line in
//! `operations!` below.

use serde::{Deserialize, Serialize};

use crate::store::{Record, TreeName};

use super::operation::Operation;
use crate::clock::now_secs;

/// Heketi's pending-operation status: "" (new), "stale" or "failed".
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum JournalStatus {
    #[default]
    New,
    /// Found at start-up, not yet recovered.
    Stale,
    /// Its rollback failed, or it is stuck past its point of no return;
    /// `/operations/pending/cleanup` drives it again.
    Failed,
}

impl JournalStatus {
    pub fn wire_name(self) -> &'static str {
        match self {
            JournalStatus::New => "",
            JournalStatus::Stale => "stale",
            JournalStatus::Failed => "failed",
        }
    }
}

macro_rules! operations {
    ($($kind:ident($op:ty),)*) => {
        /// What a journal entry is doing, with everything needed to finish
        /// or undo it. Stored as `{"kind": "<kebab-case kind>", ...fields}`.
        #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
        #[serde(tag = "kind", rename_all = "kebab-case")]
        pub enum Action {
            $($kind($op),)*
        }

        impl Action {
            /// The operation, for the runner.
            pub fn op(&self) -> &dyn Operation {
                match self {
                    $(Action::$kind(op) => op,)*
                }
            }
        }

        $(impl From<$op> for Action {
            fn from(op: $op) -> Action {
                Action::$kind(op)
            }
        })*
    };
}

operations! {
    AddNode(super::nodes::AddNode),
    DeleteNode(super::nodes::DeleteNode),
    AddDevice(super::devices::AddDevice),
    DeleteDevice(super::devices::DeleteDevice),
    ResyncDevice(super::devices::ResyncDevice),
    CreateVolume(super::volumes::CreateVolume),
    DeleteVolume(super::volumes::DeleteVolume),
    ExpandVolume(super::volumes::ExpandVolume),
    CloneVolume(super::volumes::CloneVolume),
    EvictBrick(super::evict::EvictBrick),
    Evacuate(super::evacuate::Evacuate),
    CreateBlockVolume(super::block_volumes::CreateBlockVolume),
    DeleteBlockVolume(super::block_volumes::DeleteBlockVolume),
    ExpandBlockVolume(super::block_volumes::ExpandBlockVolume),
    MendDrift(super::mend::MendDrift),
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct JournalEntry {
    pub id: String,
    pub queue_id: String,
    /// Unix seconds when accepted.
    pub timestamp: u64,
    pub action: Action,
    #[serde(default)]
    pub status: JournalStatus,
}

impl Record for JournalEntry {
    const TREE: TreeName = TreeName::Journal;
    fn id(&self) -> &str {
        &self.id
    }
}

impl JournalEntry {
    pub fn new(action: impl Into<Action>) -> JournalEntry {
        JournalEntry {
            id: crate::ids::new_id(),
            queue_id: crate::ids::new_id(),
            timestamp: now_secs(),
            action: action.into(),
            status: JournalStatus::New,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::volumes::CreateVolume;

    /// Entries written before the operations became types read the same.
    #[test]
    fn stored_entries_keep_their_shape() {
        let entry = JournalEntry::new(CreateVolume {
            volume_id: "v".into(),
            bricks: vec!["b".into()],
        });
        let json = serde_json::to_value(&entry.action).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "create-volume", "volume_id": "v", "bricks": ["b"]})
        );
        let back: Action = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry.action);
    }
}
