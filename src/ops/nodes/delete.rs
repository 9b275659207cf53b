//! Node delete: refused while the node has devices; a peer detaches it
//! (failures ignored, as Heketi does), then it goes with its hostnames.
//! Every step is idempotent, so recovery finishes it.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::store::records::{ClusterRecord, NodeRecord, QueueOutcome};
use crate::store::{Abort, TreeName};

use super::{devices_conflict, unregister_hostnames};
use crate::ops::journal::JournalEntry;
use crate::ops::operation::{Change, ChangeKind, Direction, Operation};
use crate::ops::{Engine, OpError};

/// Peer detach tries before a node delete goes on without it, and the
/// pause between them.
const DETACH_TRIES: u32 = 3;
const DETACH_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);

pub async fn delete_node(engine: &Arc<Engine>, id: &str) -> Result<String, OpError> {
    let node = engine.store.get::<NodeRecord>(id)?.ok_or_else(OpError::id_not_found)?;
    if engine.store.has_children(TreeName::NodeDevices, id)? {
        return Err(devices_conflict(id));
    }
    if engine.store.get::<ClusterRecord>(&node.cluster)?.is_none() {
        return Err(OpError::NotFound("Cluster id does not exist".into()));
    }
    let detach_from = engine
        .store
        .children(TreeName::ClusterNodes, &node.cluster)?
        .into_iter()
        .find(|n| n != id)
        .and_then(|n| engine.store.get::<NodeRecord>(&n).ok().flatten())
        .map(|n| n.manage_host().to_string());
    let entry = JournalEntry::new(DeleteNode {
        node_id: id.to_string(),
        detach_from,
    });
    let queue_id = engine.submit(entry, None, |_| Ok(())).await?;
    Ok(queue_id)
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DeleteNode {
    pub node_id: String,
    pub detach_from: Option<String>,
}

#[async_trait]
impl Operation for DeleteNode {
    fn name(&self) -> &'static str {
        "delete-node"
    }

    fn changes(&self) -> Vec<Change> {
        vec![Change::new(&self.node_id, ChangeKind::DeleteNode)]
    }

    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
        let (node_id, detach_from) = (self.node_id.as_str(), self.detach_from.as_deref());
        let Some(node) = engine.store.get::<NodeRecord>(node_id)? else {
            // Already gone: a recovered delete that had committed its store part.
            return engine.commit(entry, QueueOutcome::NoContent, |_| Ok(()));
        };
        if let Some(from) = detach_from {
            // glusterd on `from` may not yet have heard that a volume on the
            // node was just deleted elsewhere, and refuses the detach while
            // it thinks bricks remain (seen under load): a few tries, then
            // go on as Heketi does.
            for attempt in 1..=DETACH_TRIES {
                match engine.executor.peer_detach(from, node.storage_host()).await {
                    Ok(()) => break,
                    Err(e) if attempt == DETACH_TRIES => {
                        tracing::warn!(node = node_id, error = %e, "peer detach failed; continuing as Heketi does");
                    }
                    Err(_) => tokio::time::sleep(DETACH_PAUSE).await,
                }
            }
        }
        engine.commit(entry, QueueOutcome::NoContent, |tx| {
            if tx.has_children(TreeName::NodeDevices, node_id)? {
                return Err(Abort::User(devices_conflict(node_id)));
            }
            tx.unlink(TreeName::ClusterNodes, &node.cluster, node_id)?;
            unregister_hostnames(tx, &node)?;
            tx.remove::<NodeRecord, OpError>(node_id)
        })
    }

    async fn direction(&self, _engine: &Engine) -> Result<Direction, OpError> {
        Ok(Direction::Forward)
    }
}
