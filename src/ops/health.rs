//! The node health monitor (Heketi's node health cache): every online
//! node's glusterd is checked after the start time and then every refresh
//! time, a bounded number at once, each check bounded in time. What the
//! last round found is kept in memory; placement leaves out nodes found
//! down, and "try on hosts" tries them last. Nodes not checked yet count
//! as up, as in Heketi, so a monitor that is off changes nothing. Node
//! states in the store are never changed.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::stream::{self, StreamExt};

use crate::config::MonitorConfig;
use crate::store::records::{EntityState, NodeRecord};

use super::{Engine, OpError};

/// The longest one glusterd check may take; a check that takes longer
/// counts as down (Heketi's 10-minute batch limit would stall a round).
const CHECK_LIMIT: Duration = Duration::from_secs(30);

/// What the last check found of a node's glusterd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Up,
    Down,
}

/// One monitored node: its id, its manage hostname and what it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeHealth {
    pub node: String,
    pub hostname: String,
    pub health: Health,
}

/// One check's outcome with the reason a node is down, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub health: NodeHealth,
    pub reason: Option<String>,
}

/// A node whose health differs from the last round's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub now: Checked,
    /// `None`: not monitored before (new, or online again).
    pub before: Option<Health>,
}

/// The monitor's findings, shared by the monitor task and its readers.
#[derive(Default)]
pub struct HealthCache {
    nodes: Mutex<HashMap<String, NodeHealth>>,
}

impl HealthCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, NodeHealth>> {
        // Plain data behind the lock: a panic elsewhere leaves it usable.
        self.nodes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the last check found the node's glusterd down; a node not
    /// checked counts as up.
    pub fn is_down(&self, node: &str) -> bool {
        self.lock().get(node).is_some_and(|n| n.health == Health::Down)
    }

    /// The nodes found down, for callers that ask about many nodes.
    pub fn down_nodes(&self) -> HashSet<String> {
        self.lock()
            .values()
            .filter(|n| n.health == Health::Down)
            .map(|n| n.node.clone())
            .collect()
    }

    /// Orders nodes for "try on hosts": those found down last, the order
    /// otherwise kept. Heketi skipped them; trying them last still reaches
    /// a node that came back since the last round when no other answers.
    pub fn up_first(&self, nodes: &mut [NodeRecord]) {
        let down = self.down_nodes();
        nodes.sort_by_key(|n| down.contains(&n.id));
    }

    /// Every monitored node, in node id order.
    pub fn snapshot(&self) -> Vec<NodeHealth> {
        let mut all: Vec<NodeHealth> = self.lock().values().cloned().collect();
        all.sort_by(|a, b| a.node.cmp(&b.node));
        all
    }

    /// Takes a round's findings; nodes not in the round (set offline,
    /// deleted) are forgotten, so they count as up once online again until
    /// checked. Returns the nodes whose health changed.
    pub fn record_round(&self, round: Vec<Checked>) -> Vec<Transition> {
        let mut nodes = self.lock();
        let mut previous = std::mem::take(&mut *nodes);
        let mut changed = Vec::new();
        for checked in round {
            let before = previous.remove(&checked.health.node).map(|n| n.health);
            nodes.insert(checked.health.node.clone(), checked.health.clone());
            if before != Some(checked.health.health) {
                changed.push(Transition { now: checked, before });
            }
        }
        changed
    }
}

/// The nodes a round checks: every node whose state is online.
fn online_nodes(engine: &Engine) -> Result<Vec<NodeRecord>, OpError> {
    Ok(engine
        .store
        .scan::<NodeRecord>()?
        .into_iter()
        .filter(|n| n.state == EntityState::Online)
        .collect())
}

/// Runs `check` on each node, at most `at_once` at a time, each within
/// `limit` (a check past it counts as down).
async fn check_all<F, Fut>(nodes: Vec<NodeRecord>, at_once: usize, limit: Duration, check: F) -> Vec<Checked>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let check = &check;
    stream::iter(nodes)
        .map(|node| async move {
            let hostname = node.manage_host().to_string();
            let outcome = tokio::time::timeout(limit, check(hostname.clone())).await;
            let reason = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(format!("no answer within {limit:?}")),
            };
            Checked {
                health: NodeHealth {
                    node: node.id,
                    hostname,
                    health: if reason.is_none() { Health::Up } else { Health::Down },
                },
                reason,
            }
        })
        .buffer_unordered(at_once.max(1))
        .collect::<Vec<_>>()
        .await
}

fn log_transition(t: &Transition) {
    let n = &t.now.health;
    match (t.before, n.health) {
        (_, Health::Down) => tracing::warn!(
            node = %n.node,
            host = %n.hostname,
            reason = t.now.reason.as_deref().unwrap_or_default(),
            "glusterd on the node does not answer; placement leaves the node out until it does"
        ),
        (Some(Health::Down), Health::Up) => tracing::info!(
            node = %n.node,
            host = %n.hostname,
            "glusterd on the node answers again; placement uses the node again"
        ),
        (_, Health::Up) => tracing::debug!(node = %n.node, host = %n.hostname, "node monitored, glusterd up"),
    }
}

/// One round: checks every online node and records what it found.
pub async fn refresh(engine: &Engine, at_once: usize) -> Result<Vec<Transition>, OpError> {
    let nodes = online_nodes(engine)?;
    let executor = engine.executor.clone();
    let round = check_all(nodes, at_once, CHECK_LIMIT, |host| {
        let executor = executor.clone();
        async move { executor.glusterd_check(&host).await.map_err(|e| e.to_string()) }
    })
    .await;
    let changed = engine.health.record_round(round);
    changed.iter().for_each(log_transition);
    Ok(changed)
}

/// The monitor task: rounds on `config`'s schedule until `stop` turns
/// true (or its sender goes). Rounds never overlap: a slow round delays
/// the next.
pub async fn monitor(engine: Arc<Engine>, config: MonitorConfig, mut stop: tokio::sync::watch::Receiver<bool>) {
    tracing::info!(
        start_secs = config.start.as_secs(),
        refresh_secs = config.refresh.as_secs(),
        max_checks = config.max_checks,
        "node health monitor started"
    );
    let rounds = async {
        tokio::time::sleep(config.start).await;
        let mut tick = tokio::time::interval(config.refresh.max(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = refresh(&engine, config.max_checks).await {
                tracing::warn!(error = %e, "node health round failed");
            }
        }
    };
    tokio::select! {
        _ = rounds => {}
        _ = stop.wait_for(|stopped| *stopped) => {}
    }
    tracing::info!("node health monitor stopped");
}

#[cfg(test)]
mod tests;
