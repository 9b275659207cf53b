//! Node add, delete, state and tags.

use std::sync::Arc;

use crate::ids::new_id;
use crate::store::records::Tagged;
use crate::store::records::{ClusterRecord, DeviceRecord, EntityState, NodeRecord, QueueOutcome, Tags};
use crate::store::{Abort, TreeName, Tx};

use super::journal::{Action, JournalEntry};
use super::{queue, Engine, OpError};

/// A validated node-add request.
#[derive(Debug, Clone)]
pub struct NewNode {
    pub cluster: String,
    pub zone: i64,
    pub manage: Vec<String>,
    pub storage: Vec<String>,
    pub tags: Tags,
}

/// How tags change (Heketi's `change_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagChange {
    Set,
    Update,
    Delete,
}

pub fn apply_tag_change(current: &mut Tags, change: TagChange, tags: &Tags) {
    match change {
        TagChange::Set => *current = tags.clone(),
        TagChange::Update => current.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone()))),
        TagChange::Delete => current.retain(|k, _| !tags.contains_key(k)),
    }
}

/// A node with its devices (and their bricks), as info responses need it.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub record: NodeRecord,
    pub devices: Vec<super::devices::DeviceView>,
}

fn host_conflict(host: &str, owner: &str) -> OpError {
    // Heketi's text carries an extra newline before the final one.
    OpError::Conflict(format!("Hostname {host} already used by node with id {owner}\n"))
}

/// Registers every hostname of `node`, refusing ones another node (live or
/// being added) holds. Brickyard releases registrations in the same
/// transaction that removes a node or rolls back its add, so none go stale.
/// Manage and storage names are separate namespaces, as in Heketi.
fn register_hostnames(tx: &Tx<'_>, node: &NodeRecord) -> Result<(), Abort<OpError>> {
    for (index, hosts) in [
        (TreeName::ManageHosts, &node.manage),
        (TreeName::StorageHosts, &node.storage),
    ] {
        for host in hosts {
            if let Some(owner) = tx.index_get::<OpError>(index, host)? {
                if owner != node.id {
                    return Err(Abort::User(host_conflict(host, &owner)));
                }
            }
            tx.index_put(index, host, &node.id)?;
        }
    }
    Ok(())
}

pub(crate) fn unregister_hostnames(tx: &Tx<'_>, node: &NodeRecord) -> Result<(), Abort<OpError>> {
    for (index, hosts) in [
        (TreeName::ManageHosts, &node.manage),
        (TreeName::StorageHosts, &node.storage),
    ] {
        for host in hosts {
            if tx.index_get::<OpError>(index, host)?.as_deref() == Some(node.id.as_str()) {
                tx.index_remove(index, host)?;
            }
        }
    }
    Ok(())
}

impl Engine {
    fn precheck_hostnames(&self, node: &NodeRecord) -> Result<(), OpError> {
        for (index, hosts) in [
            (TreeName::ManageHosts, &node.manage),
            (TreeName::StorageHosts, &node.storage),
        ] {
            for host in hosts {
                if let Some(owner) = self.store.index_get(index, host)? {
                    return Err(host_conflict(host, &owner));
                }
            }
        }
        Ok(())
    }

    pub fn node_info(&self, id: &str) -> Result<NodeView, OpError> {
        let record = self.store.get::<NodeRecord>(id)?.ok_or_else(OpError::id_not_found)?;
        let devices = self
            .store
            .children(TreeName::NodeDevices, id)?
            .iter()
            .filter_map(|d| self.device_info(d).ok())
            .collect();
        Ok(NodeView { record, devices })
    }

    /// The first online node of `cluster` whose glusterd answers.
    async fn verified_peer(&self, cluster: &str, except: Option<&str>) -> Result<Option<NodeRecord>, OpError> {
        for node_id in self.store.children(TreeName::ClusterNodes, cluster)? {
            if Some(node_id.as_str()) == except {
                continue;
            }
            let Some(node) = self.store.get::<NodeRecord>(&node_id)? else {
                continue;
            };
            if node.state != EntityState::Online {
                continue;
            }
            if self.executor.glusterd_check(node.manage_host()).await.is_ok() {
                return Ok(Some(node));
            }
        }
        Ok(None)
    }

    /// Checks, journals and starts a node add; returns the queue id.
    pub async fn add_node(self: &Arc<Self>, req: NewNode) -> Result<String, OpError> {
        if self.store.get::<ClusterRecord>(&req.cluster)?.is_none() {
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
        self.precheck_hostnames(&node)?;

        // Heketi asks only a cluster's first node; asking every new node turns
        // a failed peer probe later into this clear answer now.
        if let Err(e) = self.executor.glusterd_check(node.manage_host()).await {
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
        let probe_from = if self.store.has_children(TreeName::ClusterNodes, &req.cluster)? {
            match self.verified_peer(&req.cluster, None).await? {
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

        let entry = JournalEntry::new(Action::AddNode {
            node: node.clone(),
            probe_from,
        });
        let queue_id = self
            .submit(entry, None, |tx| {
                if tx.get::<ClusterRecord, OpError>(&node.cluster)?.is_none() {
                    return Err(Abort::User(OpError::NotFound("Cluster id does not exist".into())));
                }
                register_hostnames(tx, &node)
            })
            .await?;
        Ok(queue_id)
    }

    pub(crate) async fn add_node_execute(
        &self,
        entry: &JournalEntry,
        node: &NodeRecord,
        probe_from: Option<&str>,
    ) -> Result<(), OpError> {
        if let Some(from) = probe_from {
            self.executor
                .peer_probe(from, node.storage_host())
                .await
                .map_err(|e| OpError::Internal(e.to_string()))?;
        }
        let committed = self.commit(entry, QueueOutcome::SeeOther(format!("/nodes/{}", node.id)), |tx| {
            if tx.get::<ClusterRecord, OpError>(&node.cluster)?.is_none() {
                return Err(Abort::User(OpError::NotFound("Cluster id does not exist".into())));
            }
            tx.put(node)?;
            tx.link(TreeName::ClusterNodes, &node.cluster, &node.id)
        });
        if let (Err(_), Some(from)) = (&committed, probe_from) {
            let _ = self.executor.peer_detach(from, node.storage_host()).await;
        }
        committed
    }

    pub async fn delete_node(self: &Arc<Self>, id: &str) -> Result<String, OpError> {
        let node = self.store.get::<NodeRecord>(id)?.ok_or_else(OpError::id_not_found)?;
        if self.store.has_children(TreeName::NodeDevices, id)? {
            return Err(devices_conflict(id));
        }
        if self.store.get::<ClusterRecord>(&node.cluster)?.is_none() {
            return Err(OpError::NotFound("Cluster id does not exist".into()));
        }
        let detach_from = self
            .store
            .children(TreeName::ClusterNodes, &node.cluster)?
            .into_iter()
            .find(|n| n != id)
            .and_then(|n| self.store.get::<NodeRecord>(&n).ok().flatten())
            .map(|n| n.manage_host().to_string());
        let entry = JournalEntry::new(Action::DeleteNode {
            node_id: id.to_string(),
            detach_from,
        });
        let queue_id = self.submit(entry, None, |_| Ok(())).await?;
        Ok(queue_id)
    }

    pub(crate) async fn delete_node_execute(
        &self,
        entry: &JournalEntry,
        node_id: &str,
        detach_from: Option<&str>,
    ) -> Result<(), OpError> {
        let Some(node) = self.store.get::<NodeRecord>(node_id)? else {
            // Already gone: a recovered delete that had committed its store part.
            return self.commit(entry, QueueOutcome::NoContent, |_| Ok(()));
        };
        if let Some(from) = detach_from {
            if let Err(e) = self.executor.peer_detach(from, node.storage_host()).await {
                tracing::warn!(node = node_id, error = %e, "peer detach failed; continuing as Heketi does");
            }
        }
        self.commit(entry, QueueOutcome::NoContent, |tx| {
            if tx.has_children(TreeName::NodeDevices, node_id)? {
                return Err(Abort::User(devices_conflict(node_id)));
            }
            tx.unlink(TreeName::ClusterNodes, &node.cluster, node_id)?;
            unregister_hostnames(tx, &node)?;
            tx.remove::<NodeRecord, OpError>(node_id)
        })
    }

    /// Applies a node state change. Offline to failed evacuates every
    /// device that holds bricks first; everything else is decided at once.
    pub async fn set_node_state(
        self: &Arc<Self>,
        id: &str,
        target: EntityState,
        heal_check: bool,
    ) -> Result<String, OpError> {
        self.store.get::<NodeRecord>(id)?.ok_or_else(OpError::id_not_found)?;
        let permit = if target == EntityState::Failed {
            Some(self.throttle.acquire().await?)
        } else {
            None
        };
        // Decided on what the store holds after the (possibly long) wait.
        let node = self.store.get::<NodeRecord>(id)?.ok_or_else(OpError::id_not_found)?;
        let device_ids = self.store.children(TreeName::NodeDevices, id)?;
        let mut brick_counts = Vec::with_capacity(device_ids.len());
        for device in &device_ids {
            brick_counts.push(self.store.children(TreeName::DeviceBricks, device)?.len() as u64);
        }
        if let (EntityState::Offline, EntityState::Failed, Some(permit)) = (node.state, target, permit) {
            let mut loaded = false;
            for device in &device_ids {
                loaded |= self.device_has_live_bricks(device)?;
            }
            if loaded {
                return self
                    .start_evacuation(Some(id.to_string()), device_ids, heal_check, permit)
                    .await;
            }
        }
        let seen_state = node.state;
        let queue_id = self.store.transact(|tx| {
            let mut node = tx
                .get::<NodeRecord, OpError>(id)?
                .ok_or(Abort::User(OpError::id_not_found()))?;
            let mut changed = node.state != seen_state
                || tx.child_count::<OpError>(TreeName::NodeDevices, id)? != device_ids.len() as u64;
            for (device, count) in device_ids.iter().zip(&brick_counts) {
                changed |= tx.child_count::<OpError>(TreeName::DeviceBricks, device)? != *count;
            }
            if changed {
                return Err(Abort::User(OpError::Conflict(format!(
                    "node {id} or its devices changed while its state was being set; retry"
                ))));
            }
            let outcome = match (node.state, target) {
                (from, to) if from == to => QueueOutcome::NoContent,
                (EntityState::Online, EntityState::Failed) => QueueOutcome::Failed(format!(
                    "Node must be offline before remove operation is performed, node:{id}"
                )),
                (EntityState::Failed, to) => {
                    QueueOutcome::Failed(format!("Cannot move a failed/removed node to {} state", to.as_str()))
                }
                (EntityState::Offline, EntityState::Failed) => {
                    for device_id in &device_ids {
                        if let Some(mut device) = tx.get::<DeviceRecord, OpError>(device_id)? {
                            device.state = EntityState::Failed;
                            tx.put(&device)?;
                        }
                    }
                    node.state = EntityState::Failed;
                    tx.put(&node)?;
                    QueueOutcome::NoContent
                }
                (_, to) => {
                    node.state = to;
                    tx.put(&node)?;
                    QueueOutcome::NoContent
                }
            };
            queue::finished(tx, outcome)
        })?;
        self.flush().await?;
        if target == EntityState::Online && node.state != EntityState::Online {
            // Bricks replaced while this node was away can go now.
            let engine = self.clone();
            let node_id = id.to_string();
            tokio::spawn(async move {
                if let Err(e) = engine.reap_retired_bricks(Some(&node_id)).await {
                    tracing::warn!(node = %node_id, error = %e, "removing replaced bricks failed");
                }
            });
        }
        Ok(queue_id)
    }

    /// Changes the tags of a node or device; returns the full new set.
    pub async fn set_tags<R: Tagged>(&self, id: &str, change: TagChange, tags: &Tags) -> Result<Tags, OpError> {
        let updated = self.store.transact(|tx| {
            let mut record = tx.get::<R, OpError>(id)?.ok_or(Abort::User(OpError::id_not_found()))?;
            apply_tag_change(record.tags_mut(), change, tags);
            tx.put(&record)?;
            Ok(record.tags_mut().clone())
        })?;
        self.flush().await?;
        Ok(updated)
    }
}

fn devices_conflict(id: &str) -> OpError {
    OpError::Conflict(format!("Unable to delete node [{id}] because it contains devices"))
}
