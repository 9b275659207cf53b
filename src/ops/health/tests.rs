//! The health cache's rules, the bounded rounds, and what placement and
//! "try on hosts" make of the findings.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::executor::mock::MockExecutor;
use crate::ops::volumes::{cluster_slot, gluster_host};
use crate::store::records::{ClusterRecord, DeviceRecord, Space};
use crate::store::{Abort, Store, TreeName};

fn checked(node: &str, health: Health) -> Checked {
    Checked {
        health: NodeHealth {
            node: node.into(),
            hostname: format!("host-{node}"),
            health,
        },
        reason: (health == Health::Down).then(|| "Active: inactive (dead)".to_string()),
    }
}

fn node(id: &str, state: EntityState) -> NodeRecord {
    NodeRecord {
        id: id.into(),
        cluster: "c".into(),
        zone: 1,
        manage: vec![format!("host-{id}")],
        storage: vec![format!("10.0.0.{}", id.len())],
        tags: Default::default(),
        state,
    }
}

#[test]
fn nodes_not_checked_count_as_up() {
    let cache = HealthCache::default();
    assert!(!cache.is_down("n1"));
    assert!(cache.snapshot().is_empty());
    let mut nodes = vec![node("n2", EntityState::Online), node("n1", EntityState::Online)];
    cache.up_first(&mut nodes);
    assert_eq!(nodes[0].id, "n2", "the order is kept");
}

#[test]
fn a_node_found_down_is_down_until_a_round_finds_it_up() {
    let cache = HealthCache::default();
    let first = cache.record_round(vec![checked("n1", Health::Up), checked("n2", Health::Down)]);
    assert_eq!(
        first
            .iter()
            .map(|t| (t.now.health.node.as_str(), t.before))
            .collect::<Vec<_>>(),
        vec![("n1", None), ("n2", None)],
        "both are new to the monitor"
    );
    assert!(cache.is_down("n2") && !cache.is_down("n1"));
    assert_eq!(cache.down_nodes(), HashSet::from(["n2".to_string()]));

    // Nothing changed: nothing to log.
    assert!(cache
        .record_round(vec![checked("n1", Health::Up), checked("n2", Health::Down)])
        .is_empty());

    let back = cache.record_round(vec![checked("n1", Health::Up), checked("n2", Health::Up)]);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].before, Some(Health::Down));
    assert_eq!(back[0].now.health.health, Health::Up);
    assert!(!cache.is_down("n2"));
}

#[test]
fn nodes_left_out_of_a_round_are_forgotten() {
    let cache = HealthCache::default();
    cache.record_round(vec![checked("n1", Health::Up), checked("n2", Health::Down)]);
    // n2 was set offline: no longer checked, no longer listed, and counted
    // as up once it is online again, until checked.
    cache.record_round(vec![checked("n1", Health::Up)]);
    assert!(!cache.is_down("n2"));
    assert_eq!(
        cache.snapshot().iter().map(|n| n.node.as_str()).collect::<Vec<_>>(),
        vec!["n1"]
    );
}

#[test]
fn try_on_hosts_order_puts_down_nodes_last_and_keeps_the_rest() {
    let cache = HealthCache::default();
    cache.record_round(vec![
        checked("a", Health::Down),
        checked("b", Health::Up),
        checked("c", Health::Down),
    ]);
    let mut nodes: Vec<NodeRecord> = ["a", "b", "c", "d"]
        .iter()
        .map(|id| node(id, EntityState::Online))
        .collect();
    cache.up_first(&mut nodes);
    let order: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(order, vec!["b", "d", "a", "c"]);
}

#[tokio::test]
async fn a_round_runs_at_most_its_bound_at_once_and_a_silent_node_is_down() {
    let nodes: Vec<NodeRecord> = (0..6)
        .map(|i| node(&format!("n{i}"), EntityState::Online))
        .chain([node("silent", EntityState::Online)])
        .collect();
    let (running, most, calls) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
    let round = check_all(nodes, 2, Duration::from_millis(200), |host| {
        let (running, most, calls) = (&running, &most, &calls);
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            if host == "host-silent" {
                // A node that never answers: the round's time limit ends it.
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
    })
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 7, "every node was checked");
    assert_eq!(most.load(Ordering::SeqCst), 2, "never more than two at once");
    assert_eq!(round.len(), 7);
    let silent = round.iter().find(|c| c.health.node == "silent").unwrap();
    assert_eq!(silent.health.health, Health::Down);
    assert_eq!(silent.reason.as_deref(), Some("no answer within 200ms"));
    assert!(round
        .iter()
        .filter(|c| c.health.node != "silent")
        .all(|c| c.health.health == Health::Up && c.reason.is_none()));
}

/// A cluster `c` of three online nodes and one offline node, a device
/// each, on a mock whose glusterd switch file is `switch`.
fn engine() -> (tempfile::TempDir, Arc<Engine>, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s")).unwrap();
    let switch = dir.path().join("glusterd-stopped");
    store
        .transact(|tx| -> Result<(), Abort<OpError>> {
            tx.put(&ClusterRecord {
                id: "c".into(),
                block: false,
                file: true,
            })?;
            for (id, state) in [
                ("n1", EntityState::Online),
                ("n2", EntityState::Online),
                ("n3", EntityState::Online),
                ("n4", EntityState::Offline),
            ] {
                tx.put(&node(id, state))?;
                tx.link(TreeName::ClusterNodes, "c", id)?;
                let device = DeviceRecord {
                    id: format!("d{id}"),
                    node: id.into(),
                    name: "/dev/sdb".into(),
                    tags: Default::default(),
                    state: EntityState::Online,
                    space: Space {
                        total: 1 << 30,
                        free: 1 << 30,
                        used: 0,
                    },
                    extent_size: 4096,
                    paths: vec![],
                    pv_uuid: String::new(),
                };
                tx.put(&device)?;
                tx.link(TreeName::NodeDevices, id, &device.id)?;
            }
            Ok(())
        })
        .unwrap();
    let executor = Arc::new(
        MockExecutor::in_memory(1, &[])
            .unwrap()
            .with_glusterd_switch(switch.clone()),
    );
    (dir, Engine::new(store, executor, Default::default()), switch)
}

fn placed_nodes(engine: &Engine) -> (Vec<String>, usize) {
    let cluster = engine.store.get::<ClusterRecord>("c").unwrap().unwrap();
    let slot = cluster_slot(engine, &cluster).unwrap();
    (slot.devices.iter().map(|d| d.node.clone()).collect(), slot.nodes_down)
}

#[tokio::test]
async fn placement_and_try_on_hosts_leave_out_a_down_node_until_it_answers() {
    let (_dir, engine, switch) = engine();
    let all = vec!["n1".to_string(), "n2".into(), "n3".into()];

    let first = refresh(&engine, 2).await.unwrap();
    assert_eq!(first.len(), 3, "each online node is new to the monitor");
    let monitored: Vec<(String, String, Health)> = engine
        .health
        .snapshot()
        .into_iter()
        .map(|n| (n.node, n.hostname, n.health))
        .collect();
    assert_eq!(
        monitored,
        vec![
            ("n1".into(), "host-n1".into(), Health::Up),
            ("n2".into(), "host-n2".into(), Health::Up),
            ("n3".into(), "host-n3".into(), Health::Up),
        ],
        "online nodes only"
    );
    assert_eq!(placed_nodes(&engine), (all.clone(), 0));

    // glusterd stops on n1: the next round finds it down.
    std::fs::write(&switch, "host-n1\n").unwrap();
    assert_eq!(
        placed_nodes(&engine),
        (all.clone(), 0),
        "not before a round has seen it"
    );
    let changed = refresh(&engine, 2).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].now.health.node, "n1");
    assert_eq!(changed[0].now.reason.as_deref(), Some("Active: inactive (dead)"));
    assert_eq!(placed_nodes(&engine), (vec!["n2".to_string(), "n3".into()], 1));
    assert_eq!(
        gluster_host(&engine, "c").unwrap(),
        "host-n2",
        "gluster runs on an up node"
    );

    // Back: used again after the next round.
    std::fs::remove_file(&switch).unwrap();
    let changed = refresh(&engine, 2).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].before, Some(Health::Down));
    assert_eq!(placed_nodes(&engine), (all, 0));
    assert_eq!(gluster_host(&engine, "c").unwrap(), "host-n1");
}

#[tokio::test]
async fn with_every_node_down_try_on_hosts_still_has_a_node_to_try() {
    let (_dir, engine, switch) = engine();
    std::fs::write(&switch, "host-n1\nhost-n2\nhost-n3\n").unwrap();
    refresh(&engine, 8).await.unwrap();
    assert_eq!(engine.health.down_nodes().len(), 3);
    assert_eq!(placed_nodes(&engine), (vec![], 3));
    assert_eq!(gluster_host(&engine, "c").unwrap(), "host-n1");
}

#[tokio::test]
async fn the_monitor_task_checks_after_its_start_time_and_stops_when_told() {
    let (_dir, engine, switch) = engine();
    std::fs::write(&switch, "host-n3\n").unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let config = MonitorConfig {
        start: Duration::from_millis(10),
        refresh: Duration::from_secs(1),
        max_checks: 2,
    };
    let task = tokio::spawn(monitor(engine.clone(), config, stopped));
    // Bounded wait for the first round.
    for _ in 0..500 {
        if engine.health.snapshot().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(engine.health.is_down("n3"));
    assert!(!engine.health.is_down("n1"));
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the monitor stopped")
        .unwrap();
}
