//! The operation trait: each kind of journalled operation is one type that
//! carries its own data (stored in the journal through `journal::Action`)
//! and implements Heketi's phases. The runner (`engine.rs`) drives any of
//! them the same way: accept, execute, commit, roll back, settle after a
//! crash. Accepting is each operation's own function (`accept`), since
//! requests differ; it ends in `Engine::submit`, which journals the
//! operation with its reservations in one transaction.

use async_trait::async_trait;

use crate::store::records::QueueOutcome;
use crate::store::{Abort, Tx};

use super::engine::Engine;
use super::journal::JournalEntry;
use super::OpError;

/// Which way a run takes an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Run it (again): every step is idempotent, or it is past its point
    /// of no return.
    Forward,
    /// Undo what may have been done and report the request as failed.
    Back,
}

/// Heketi's pending-operation types, for the kinds Heketi journals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeketiType {
    CreateVolume,
    DeleteVolume,
    ExpandVolume,
    RemoveDevice,
    CloneVolume,
    EvictBrick,
    CreateBlockVolume,
    DeleteBlockVolume,
    ExpandBlockVolume,
}

impl HeketiType {
    /// The name `/operations` and the metrics use.
    pub fn name(self) -> &'static str {
        match self {
            HeketiType::CreateVolume => "create-volume",
            HeketiType::DeleteVolume => "delete-volume",
            HeketiType::ExpandVolume => "expand-volume",
            HeketiType::RemoveDevice => "remove-device",
            HeketiType::CloneVolume => "clone-volume",
            HeketiType::EvictBrick => "evict-brick",
            HeketiType::CreateBlockVolume => "create-block-volume",
            HeketiType::DeleteBlockVolume => "delete-block-volume",
            HeketiType::ExpandBlockVolume => "expand-block-volume",
        }
    }

    /// The number Heketi's database stores.
    pub fn code(self) -> u8 {
        match self {
            HeketiType::CreateVolume => 1,
            HeketiType::DeleteVolume => 2,
            HeketiType::ExpandVolume => 3,
            HeketiType::RemoveDevice => 6,
            HeketiType::CloneVolume => 7,
            HeketiType::EvictBrick => 8,
            HeketiType::CreateBlockVolume => 4,
            HeketiType::DeleteBlockVolume => 5,
            HeketiType::ExpandBlockVolume => 9,
        }
    }
}

/// How an operation touches an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    AddBrick,
    AddVolume,
    DeleteBrick,
    DeleteVolume,
    ExpandVolume,
    AddBlockVolume,
    DeleteBlockVolume,
    ExpandBlockVolume,
    RemoveDevice,
    CloneVolumeFrom,
    CloneVolumeTo,
    ChildOperation,
    ParentOperation,
    AddNode,
    DeleteNode,
    AddDevice,
    DeleteDevice,
    ResyncDevice,
}

impl ChangeKind {
    /// Heketi's description, as `/operations/pending/{id}` shows it.
    pub fn description(self) -> &'static str {
        match self {
            ChangeKind::AddBrick => "Add brick",
            ChangeKind::AddVolume => "Add volume",
            ChangeKind::DeleteBrick => "Delete brick",
            ChangeKind::DeleteVolume => "Delete volume",
            ChangeKind::ExpandVolume => "Expand volume",
            ChangeKind::AddBlockVolume => "Add block volume",
            ChangeKind::DeleteBlockVolume => "Delete block volume",
            ChangeKind::ExpandBlockVolume => "Expand block volume",
            ChangeKind::RemoveDevice => "Remove device",
            ChangeKind::CloneVolumeFrom => "Clone volume from",
            ChangeKind::CloneVolumeTo => "Expand volume to",
            ChangeKind::ChildOperation => "Performing child operation",
            ChangeKind::ParentOperation => "Belongs to parent operation",
            ChangeKind::AddNode => "Add node",
            ChangeKind::DeleteNode => "Delete node",
            ChangeKind::AddDevice => "Add device",
            ChangeKind::DeleteDevice => "Delete device",
            ChangeKind::ResyncDevice => "Resync device",
        }
    }

    /// The number Heketi's database stores, for the changes Heketi has.
    pub fn heketi_code(self) -> Option<u8> {
        Some(match self {
            ChangeKind::AddBrick => 1,
            ChangeKind::AddVolume => 2,
            ChangeKind::DeleteBrick => 3,
            ChangeKind::DeleteVolume => 4,
            ChangeKind::ExpandVolume => 5,
            ChangeKind::AddBlockVolume => 6,
            ChangeKind::DeleteBlockVolume => 7,
            ChangeKind::ExpandBlockVolume => 14,
            ChangeKind::RemoveDevice => 8,
            ChangeKind::CloneVolumeFrom => 9,
            ChangeKind::CloneVolumeTo => 11,
            ChangeKind::ChildOperation => 12,
            ChangeKind::ParentOperation => 13,
            ChangeKind::AddNode
            | ChangeKind::DeleteNode
            | ChangeKind::AddDevice
            | ChangeKind::DeleteDevice
            | ChangeKind::ResyncDevice => return None,
        })
    }
}

/// An object an operation touches, for `/operations/pending/{id}` and
/// Heketi's database export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: String,
    pub kind: ChangeKind,
    /// An expansion's size in GiB (Heketi's `Delta`: the growth of a
    /// volume, the new total of a block volume).
    pub delta: Option<u64>,
}

impl Change {
    pub fn new(id: &str, kind: ChangeKind) -> Change {
        Change {
            id: id.to_string(),
            kind,
            delta: None,
        }
    }

    /// `kind` for each id, in order.
    pub fn each(ids: &[String], kind: ChangeKind) -> impl Iterator<Item = Change> + '_ {
        ids.iter().map(move |id| Change::new(id, kind))
    }
}

#[async_trait]
pub trait Operation: Send + Sync {
    /// Brickyard's name for it (logs, recovery messages).
    fn name(&self) -> &'static str;

    /// Heketi's pending-operation type, for the kinds Heketi journals;
    /// the others stay out of `/operations` and the metrics, as in Heketi.
    fn heketi_type(&self) -> Option<HeketiType> {
        None
    }

    /// What it changes, for `/operations/pending/{id}`.
    fn changes(&self) -> Vec<Change>;

    /// Execute on the nodes, then commit: the last step is always
    /// `Engine::commit`, one transaction that applies the changes, drops
    /// the journal entry and records the answer. A fresh run has
    /// `entry.status == New`; a resumed one (after a crash or a failure)
    /// does not.
    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError>;

    /// Which way a run interrupted by a crash, or driven again by a
    /// cleanup, goes: whether it is past its point of no return. An error
    /// means nobody can tell yet (gluster cannot be asked).
    async fn direction(&self, engine: &Engine) -> Result<Direction, OpError>;

    /// Whether a failed fresh run leaves node-side work to undo (volume
    /// operations); the others undo their own steps as they fail.
    fn undo_after_failure(&self) -> bool {
        false
    }

    /// Idempotent undo of whatever may have been done on the nodes.
    async fn undo(&self, _engine: &Engine) -> Result<(), OpError> {
        Ok(())
    }

    /// Store-side undo: the reservations `accept` made, released inside the
    /// transaction that drops the entry.
    fn release(&self, _tx: &Tx<'_>, _entry: &JournalEntry) -> Result<(), Abort<OpError>> {
        Ok(())
    }

    /// Whether a resumed run settles itself from gluster's state
    /// (evictions), so that a failure to do so leaves it undecided.
    fn settled_from_gluster(&self) -> bool {
        false
    }

    /// The answer for an entry stuck past its point of no return: what
    /// will be true once a cleanup finishes it, or none (the poll stays
    /// pending) when that is not known yet. A final answer is never taken
    /// back.
    fn answer_when_stuck(&self, why: &str) -> Option<QueueOutcome> {
        Some(QueueOutcome::Failed(why.to_string()))
    }
}
