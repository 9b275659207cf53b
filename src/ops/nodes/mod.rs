//! Nodes: the read side, state changes and tags (decided at once), the
//! hostname registrations; `add` and `delete` are journalled operations.

mod add;
mod delete;

use std::sync::Arc;

use crate::store::records::{DeviceRecord, EntityState, NodeRecord, QueueOutcome, Tagged, Tags};
use crate::store::{Abort, TreeName, Tx};

use super::{queue, Engine, OpError};
use crate::store::views::NodeView;

pub use add::{add_node, AddNode};
pub use delete::{delete_node, DeleteNode};

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

pub(crate) fn host_conflict(host: &str, owner: &str) -> OpError {
    // Heketi's text carries an extra newline before the final one.
    OpError::Conflict(format!("Hostname {host} already used by node with id {owner}\n"))
}

/// Registers every hostname of `node`, refusing ones another node (live or
/// being added) holds. Brickyard releases registrations in the same
/// transaction that removes a node or rolls back its add, so none go stale.
/// Manage and storage names are separate namespaces, as in Heketi.
pub(crate) fn register_hostnames(tx: &Tx<'_>, node: &NodeRecord) -> Result<(), Abort<OpError>> {
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

pub(crate) fn precheck_hostnames(engine: &Engine, node: &NodeRecord) -> Result<(), OpError> {
    for (index, hosts) in [
        (TreeName::ManageHosts, &node.manage),
        (TreeName::StorageHosts, &node.storage),
    ] {
        for host in hosts {
            if let Some(owner) = engine.store.index_get(index, host)? {
                return Err(host_conflict(host, &owner));
            }
        }
    }
    Ok(())
}

pub fn node_info(engine: &Engine, id: &str) -> Result<NodeView, OpError> {
    let record = engine.store.get::<NodeRecord>(id)?.ok_or_else(OpError::id_not_found)?;
    let devices = engine
        .store
        .children(TreeName::NodeDevices, id)?
        .iter()
        .filter_map(|d| crate::ops::devices::device_info(engine, d).ok())
        .collect();
    Ok(NodeView { record, devices })
}

/// The first online node of `cluster` whose glusterd answers.
pub(crate) async fn verified_peer(
    engine: &Engine,
    cluster: &str,
    except: Option<&str>,
) -> Result<Option<NodeRecord>, OpError> {
    // Nodes the health monitor found down are asked last.
    for node in crate::ops::volumes::online_nodes_up_first(engine, cluster)? {
        if Some(node.id.as_str()) == except {
            continue;
        }
        if engine.executor.glusterd_check(node.manage_host()).await.is_ok() {
            return Ok(Some(node));
        }
    }
    Ok(None)
}

/// Applies a node state change. Offline to failed evacuates every
/// device that holds bricks first; everything else is decided at once.
pub async fn set_node_state(
    engine: &Arc<Engine>,
    id: &str,
    target: EntityState,
    heal_check: bool,
) -> Result<String, OpError> {
    engine.store.get::<NodeRecord>(id)?.ok_or_else(OpError::id_not_found)?;
    let permit = if target == EntityState::Failed {
        Some(engine.throttle.acquire().await?)
    } else {
        None
    };
    // Decided on what the store holds after the (possibly long) wait.
    let node = engine.store.get::<NodeRecord>(id)?.ok_or_else(OpError::id_not_found)?;
    let device_ids = engine.store.children(TreeName::NodeDevices, id)?;
    let mut brick_counts = Vec::with_capacity(device_ids.len());
    for device in &device_ids {
        brick_counts.push(engine.store.children(TreeName::DeviceBricks, device)?.len() as u64);
    }
    if let (EntityState::Offline, EntityState::Failed, Some(permit)) = (node.state, target, permit) {
        let mut loaded = false;
        for device in &device_ids {
            loaded |= crate::ops::retired::device_has_live_bricks(engine, device)?;
        }
        if loaded {
            return crate::ops::evacuate::start_evacuation(
                engine,
                Some(id.to_string()),
                device_ids,
                heal_check,
                permit,
            )
            .await;
        }
    }
    let seen_state = node.state;
    let queue_id = engine.store.transact(|tx| {
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
    engine.flush().await?;
    if target == EntityState::Online && node.state != EntityState::Online {
        // Bricks replaced while this node was away can go now.
        let engine = engine.clone();
        let node_id = id.to_string();
        tokio::spawn(async move {
            if let Err(e) = crate::ops::retired::reap_retired_bricks(&engine, Some(&node_id)).await {
                tracing::warn!(node = %node_id, error = %e, "removing replaced bricks failed");
            }
        });
    }
    Ok(queue_id)
}

/// Changes the tags of a node or device; returns the full new set.
pub async fn set_tags<R: Tagged>(engine: &Engine, id: &str, change: TagChange, tags: &Tags) -> Result<Tags, OpError> {
    let updated = engine.store.transact(|tx| {
        let mut record = tx.get::<R, OpError>(id)?.ok_or(Abort::User(OpError::id_not_found()))?;
        apply_tag_change(record.tags_mut(), change, tags);
        tx.put(&record)?;
        Ok(record.tags_mut().clone())
    })?;
    engine.flush().await?;
    Ok(updated)
}

pub(crate) fn devices_conflict(id: &str) -> OpError {
    OpError::Conflict(format!("Unable to delete node [{id}] because it contains devices"))
}
