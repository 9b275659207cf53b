use serde_json::json;

use crate::harness::{Options, Server};

/// Everything a client can read about the topology.
fn snapshot(s: &Server) -> Vec<serde_json::Value> {
    let mut out = vec![s.get("/clusters").json()];
    for c in s.get("/clusters").json()["clusters"].as_array().unwrap() {
        let cluster = s.get(&format!("/clusters/{}", c.as_str().unwrap())).json();
        for n in cluster["nodes"].as_array().unwrap() {
            out.push(s.get(&format!("/nodes/{}", n.as_str().unwrap())).json());
        }
        out.push(cluster);
    }
    out
}

#[test]
fn restart_serves_identical_data() {
    let mut s = Server::start();
    let cluster = s.create_cluster();
    for (i, zone) in [(1, 1), (2, 2), (3, 3)] {
        let node = s.add_node(&cluster, zone, &format!("node{i}"), &format!("10.0.0.{i}"));
        s.add_device(&node, "/dev/sdb");
        s.add_device(&node, "/dev/sdc");
    }
    let before = snapshot(&s);
    s.restart();
    assert_eq!(snapshot(&s), before);
}

#[test]
fn kill_nine_after_a_2xx_loses_nothing() {
    let mut s = Server::start();
    for round in 0..5 {
        let created = s.post("/clusters", r#"{"file":true,"block":false}"#);
        assert_eq!(created.status, 201);
        let id = created.json()["id"].as_str().unwrap().to_string();
        s.kill9();
        s.restart();
        assert_eq!(
            s.get(&format!("/clusters/{id}")).json(),
            created.json(),
            "round {round}"
        );
        let node = s.add_node(&id, 1, &format!("n{round}"), &format!("10.1.0.{round}"));
        let tags = s.post(
            &format!("/nodes/{node}/tags"),
            r#"{"change_type":"set","tags":{"k":"v"}}"#,
        );
        assert_eq!(tags.status, 200);
        s.kill9();
        s.restart();
        assert_eq!(s.get(&format!("/nodes/{node}")).json()["tags"], json!({"k": "v"}));
    }
}

#[test]
fn an_accepted_add_is_rolled_back_after_kill_nine() {
    let mut s = Server::with(Options {
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), "device_setup:1:delay:3000".into())],
        ..Options::default()
    });
    let cluster = s.create_cluster();
    let node = s.add_node(&cluster, 1, "node1", "10.0.0.1");
    let accepted = s.post("/devices", &json!({"node": node, "name": "/dev/sdb"}).to_string());
    assert_eq!(accepted.status, 202);
    s.kill9();
    s.restart_with_env(vec![]);
    let outcome = s.wait(&accepted.location());
    assert_eq!(outcome.status, 500);
    assert!(
        outcome.body.contains("interrupted by restart, rolled back"),
        "{}",
        outcome.body
    );
    assert_eq!(s.get(&format!("/nodes/{node}")).json()["devices"], json!([]));
    assert_eq!(s.get("/operations").json()["total"], 0);
    assert_eq!(
        s.mock_nodes()["hosts"]["node1"]["vgs"]
            .as_object()
            .map_or(0, serde_json::Map::len),
        0
    );
    // Nothing reserved is left: the same device can be added.
    s.add_device(&node, "/dev/sdb");
}

#[test]
fn an_accepted_delete_is_finished_after_kill_nine() {
    let mut s = Server::with(Options {
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), "peer_detach:1:delay:3000".into())],
        ..Options::default()
    });
    let cluster = s.create_cluster();
    s.add_node(&cluster, 1, "node1", "10.0.0.1");
    let second = s.add_node(&cluster, 2, "node2", "10.0.0.2");
    let accepted = s.delete(&format!("/nodes/{second}"));
    assert_eq!(accepted.status, 202);
    s.kill9();
    s.restart_with_env(vec![]);
    let outcome = s.wait(&accepted.location());
    assert_eq!(outcome.status, 204, "{outcome:?}");
    assert_eq!(s.get(&format!("/nodes/{second}")).status, 404);
    assert_eq!(s.mock_nodes()["hosts"]["node1"]["peers"], json!([]));
    assert_eq!(s.get("/operations").json()["total"], 0);
}

#[test]
fn an_accepted_node_add_is_rolled_back_and_frees_its_hostnames() {
    let mut s = Server::with(Options {
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), "peer_probe:1:delay:3000".into())],
        ..Options::default()
    });
    let cluster = s.create_cluster();
    s.add_node(&cluster, 1, "node1", "10.0.0.1");
    let accepted = s.post(
        "/nodes",
        &json!({"zone": 2, "hostnames": {"manage": ["node2"], "storage": ["10.0.0.2"]}, "cluster": cluster})
            .to_string(),
    );
    s.kill9();
    s.restart_with_env(vec![]);
    assert_eq!(s.wait(&accepted.location()).status, 500);
    s.add_node(&cluster, 2, "node2", "10.0.0.2");
}

fn store_syncs(s: &Server) -> u64 {
    let body = s.get("/metrics").body;
    body.lines()
        .find_map(|l| l.strip_prefix("brickyard_store_syncs_total "))
        .unwrap_or_else(|| panic!("no brickyard_store_syncs_total in\n{body}"))
        .parse()
        .unwrap()
}

/// The disk syncs on a create's path are the two its promise needs: the
/// journal before any node is touched (the accept), and the commit before
/// the answer. Delivering the answer, however often it is polled, adds none.
/// On etcd there are none to make: a commit is on a quorum of members
/// before it returns.
#[test]
fn a_create_costs_two_disk_syncs_and_its_answer_none() {
    let s = Server::start();
    s.topology(3, 1);
    let before = store_syncs(&s);
    let accepted = s.post("/volumes", r#"{"size": 1}"#);
    let location = accepted.location();
    let done = s.finish(accepted);
    assert_eq!(done.status, 303, "{done:?}");
    for _ in 0..3 {
        assert_eq!(s.get(&location).status, 303);
    }
    let needed = if crate::harness::on_etcd() { 0 } else { 2 };
    assert_eq!(store_syncs(&s) - before, needed);
    // A read-only request syncs nothing.
    let after = store_syncs(&s);
    assert_eq!(s.get("/volumes").status, 200);
    assert_eq!(store_syncs(&s), after);
}
