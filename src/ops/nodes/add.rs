//! Node add: its hostnames reserved at once; glusterd on the new node and
//! on a verified peer checked before journalling; the peer probes it; the
//! node appears at commit. Recovery takes it back (detach, names freed).

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ids::new_id;
use crate::store::records::{ClusterRecord, EntityState, NodeRecord, QueueOutcome};
use crate::store::{Abort, TreeName, Tx};

use super::{precheck_hostnames, register_hostnames, unregister_hostnames, verified_peer, NewNode};
use crate::ops::journal::JournalEntry;
use crate::ops::operation::{Change, ChangeKind, Direction, Operation};
use crate::ops::{Engine, OpError};

/// Checks, journals and starts a node add; returns the queue id.
pub async fn add_node(engine: &Arc<Engine>, req: NewNode) -> Result<String, OpError> {
    if engine.store.get::<ClusterRecord>(&req.cluster)?.is_none() {
        return Err(OpError::NotFound("Cluster id does not exist".into()));
    }
    let node = NodeRecord {
        id: new_id(),
        cluster: req.cluster.clone(),
        zone: req.zone,
        manage: req.manage,
        storage: req.storage,
        tags: req.tags,
        state: EntityState::Online,
    };
    // Hostname conflicts are answered before any node is contacted.
    precheck_hostnames(engine, &node)?;

    // Heketi asks only a cluster's first node; asking every new node turns
    // a failed peer probe later into this clear answer now.
    if let Err(e) = engine.executor.glusterd_check(node.manage_host()).await {
        tracing::warn!(host = node.manage_host(), "node add refused: {e}");
        if e.unreachable {
            // Not Heketi's words: the node never answered, so saying
            // glusterd is down would send the operator the wrong way.
            return Err(OpError::BadRequest(format!(
                "Unable to reach node {}: {}",
                node.manage_host(),
                e.message
            )));
        }
        return Err(OpError::BadRequest("New Node doesn't have glusterd running".into()));
    }
    let probe_from = if engine.store.has_children(TreeName::ClusterNodes, &req.cluster)? {
        match verified_peer(engine, &req.cluster, None).await? {
            Some(peer) => Some(peer.manage_host().to_string()),
            None => {
                return Err(OpError::BadRequest(
                    "None of the nodes in cluster has glusterd running".into(),
                ))
            }
        }
    } else {
        None
    };

    let entry = JournalEntry::new(AddNode {
        node: node.clone(),
        probe_from,
    });
    let queue_id = engine
        .submit(entry, None, |tx| {
            if tx.get::<ClusterRecord, OpError>(&node.cluster)?.is_none() {
                return Err(Abort::User(OpError::NotFound("Cluster id does not exist".into())));
            }
            register_hostnames(tx, &node)
        })
        .await?;
    Ok(queue_id)
}

/// The node's hostnames are reserved in the indexes; the node itself
/// appears only at commit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AddNode {
    pub node: NodeRecord,
    /// Manage host of an existing peer that probes the new node.
    pub probe_from: Option<String>,
}

#[async_trait]
impl Operation for AddNode {
    fn name(&self) -> &'static str {
        "add-node"
    }

    fn changes(&self) -> Vec<Change> {
        vec![Change::new(&self.node.id, ChangeKind::AddNode)]
    }

    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
        let node = &self.node;
        let probe_from = self.probe_from.as_deref();
        if let Some(from) = probe_from {
            engine.executor.peer_probe(from, node.storage_host()).await?;
        }
        let committed = engine.commit(entry, QueueOutcome::SeeOther(format!("/nodes/{}", node.id)), |tx| {
            if tx.get::<ClusterRecord, OpError>(&node.cluster)?.is_none() {
                return Err(Abort::User(OpError::NotFound("Cluster id does not exist".into())));
            }
            tx.put(node)?;
            tx.link(TreeName::ClusterNodes, &node.cluster, &node.id)
        });
        if committed.is_err() {
            // Probed but not recorded: detach it again.
            let _ = self.undo(engine).await;
        }
        committed
    }

    async fn direction(&self, _engine: &Engine) -> Result<Direction, OpError> {
        Ok(Direction::Back)
    }

    async fn undo(&self, engine: &Engine) -> Result<(), OpError> {
        if let Some(from) = &self.probe_from {
            // Heketi ignores detach failures too; the pool tolerates a stray peer.
            let _ = engine.executor.peer_detach(from, self.node.storage_host()).await;
        }
        Ok(())
    }

    fn release(&self, tx: &Tx<'_>, _entry: &JournalEntry) -> Result<(), Abort<OpError>> {
        unregister_hostnames(tx, &self.node)
    }
}
