//! The node health monitor: a node whose glusterd stops is reported down
//! on `/metrics` after a round, left out by placement and tried last by
//! "try on hosts"; once glusterd answers again it is used again.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{Options, Server};

const R3: &str = r#"{"size":1,"durability":{"type":"replicate","replicate":{"replica":3}}}"#;
const R2: &str = r#"{"size":1,"durability":{"type":"replicate","replicate":{"replica":2}}}"#;

/// A server whose monitor checks every second from its first second on.
fn monitored() -> Server {
    Server::with(Options {
        glusterfs: Some(json!({
            "start_time_monitor_gluster_nodes": 1,
            "refresh_time_monitor_gluster_nodes": 1,
        })),
        ..Options::default()
    })
}

/// Stops glusterd on the mock's `hosts` (none: every glusterd runs).
fn stop_glusterd(s: &Server, hosts: &[&str]) {
    let switch = s.path().join("store.mock-nodes.glusterd-stopped");
    let text: String = hosts.iter().map(|h| format!("{h}\n")).collect();
    std::fs::write(switch, text).unwrap();
}

/// `brickyard_node_up` for `node`: its hostname label and value.
fn node_up(s: &Server, node: &str) -> Option<(String, f64)> {
    let text = s.get("/metrics").body;
    text.lines()
        .filter(|l| l.starts_with("brickyard_node_up{"))
        .find(|l| l.contains(&format!("node=\"{node}\"")))
        .map(|l| {
            let hostname = l.split("hostname=\"").nth(1).unwrap().split('"').next().unwrap();
            let value = l.rsplit(' ').next().unwrap().parse().unwrap();
            (hostname.to_string(), value)
        })
}

/// Waits (bounded) until the monitor reports `node` as `up`.
fn wait_node(s: &Server, node: &str, up: bool) {
    let want = if up { 1.0 } else { 0.0 };
    let deadline = Instant::now() + Duration::from_secs(30);
    while node_up(s, node).map(|(_, v)| v) != Some(want) {
        assert!(
            Instant::now() < deadline,
            "node {node} not reported {} within 30 s",
            if up { "up" } else { "down" }
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn brick_nodes(volume: &Value) -> Vec<String> {
    let mut nodes: Vec<String> = volume["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["node"].as_str().unwrap().to_string())
        .collect();
    nodes.sort();
    nodes
}

fn manage_host(s: &Server, node: &str) -> String {
    s.get(&format!("/nodes/{node}")).json()["hostnames"]["manage"][0]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_node_with_glusterd_down_is_avoided_until_it_answers_again() {
    let s = monitored();
    let (cluster, _) = s.topology(4, 1);
    // Cluster order: the node "try on hosts" would take first.
    let nodes: Vec<String> = s.get(&format!("/clusters/{cluster}")).json()["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    for node in &nodes {
        wait_node(&s, node, true);
        assert_eq!(
            node_up(&s, node).unwrap().0,
            manage_host(&s, node),
            "labelled by its manage hostname"
        );
    }
    let down = nodes[0].clone();
    let host = manage_host(&s, &down);
    let info_before = s.get(&format!("/nodes/{down}"));

    stop_glusterd(&s, &[&host]);
    wait_node(&s, &down, false);
    let mut others = nodes[1..].to_vec();
    others.sort();
    let volume = s.create_volume(R3);
    assert_eq!(brick_nodes(&volume), others, "the three nodes whose glusterd answers");
    // The monitor changes nothing the API reports of the node.
    let info_during = s.get(&format!("/nodes/{down}"));
    assert_eq!(
        (info_during.status, info_during.json()),
        (info_before.status, info_before.json())
    );
    // "Try on hosts": the volume is deleted from another node.
    let name = volume["name"].as_str().unwrap().to_string();
    let id = volume["id"].as_str().unwrap();
    assert_eq!(s.finish(s.delete(&format!("/volumes/{id}"))).status, 204);
    let deleted_on = |h: &str| {
        s.mock_commands(h)
            .iter()
            .any(|c| c.contains(&format!("volume delete {name}")))
    };
    assert!(!deleted_on(&host), "the down node ran the delete");
    assert!(
        nodes[1..].iter().any(|n| deleted_on(&manage_host(&s, n))),
        "no node ran the delete"
    );

    // glusterd is back: the node takes bricks again. With another node
    // offline, replica 3 needs it.
    stop_glusterd(&s, &[]);
    wait_node(&s, &down, true);
    assert_eq!(s.set_state("nodes", &nodes[3], "offline").status, 204);
    let volume = s.create_volume(R3);
    let mut expected = nodes[..3].to_vec();
    expected.sort();
    assert_eq!(brick_nodes(&volume), expected);
    // An offline node is not monitored.
    let deadline = Instant::now() + Duration::from_secs(30);
    while node_up(&s, &nodes[3]).is_some() {
        assert!(Instant::now() < deadline, "the offline node is still monitored");
        std::thread::sleep(Duration::from_millis(100));
    }
    s.assert_consistent();
}

#[test]
fn with_one_of_three_nodes_down_replica_three_waits_for_it() {
    let s = monitored();
    let (_, nodes) = s.topology(3, 1);
    for node in &nodes {
        wait_node(&s, node, true);
    }
    stop_glusterd(&s, &["node3"]);
    wait_node(&s, &nodes[2], false);

    // Placement is decided before the request is accepted: no queue entry.
    let refused = s.post("/volumes", R3);
    assert_eq!(
        (refused.status, refused.body.as_str()),
        (
            500,
            "Failed to allocate new volume: No space: a brick set needs 3 bricks on different nodes, \
             but only 2 online node(s) have usable devices; 1 online node(s) left out while their glusterd \
             does not answer\n"
        )
    );
    let pair = s.create_volume(R2);
    let mut first_two = nodes[..2].to_vec();
    first_two.sort();
    assert_eq!(brick_nodes(&pair), first_two);

    stop_glusterd(&s, &[]);
    wait_node(&s, &nodes[2], true);
    let volume = s.create_volume(R3);
    let mut all = nodes.clone();
    all.sort();
    assert_eq!(brick_nodes(&volume), all);
    s.assert_consistent();
}
