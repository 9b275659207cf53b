//! `GET /db/check?nodes=true`: the store against what the nodes hold, so
//! drift that the store-only check cannot see (a leaked LV, a lost fstab
//! line, a volume gluster does not know) shows in production.

use serde_json::{json, Value};

use crate::harness::Server;

const R3: &str = r#"{"size":1,"durability":{"type":"replicate","replicate":{"replica":3}}}"#;

fn drift(report: &Value) -> Vec<(String, String)> {
    report["drift"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["object"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_nodes_check_finds_each_kind_of_drift() {
    let mut s = Server::start();
    s.topology(3, 1);
    let volume = s.create_volume(R3);
    let done = s.finish(s.post(&format!("/volumes/{}/clone", volume["id"].as_str().unwrap()), "{}"));
    assert_eq!(done.status, 303);

    // In agreement: nothing to report, and every node was read.
    let clean = s.get("/db/check?nodes=true").json();
    assert_eq!(clean["totalinconsistencies"], 0, "{clean}");
    assert_eq!(clean["drift"]["findings"], json!([]));
    assert_eq!(clean["drift"]["checked"].as_array().unwrap().len(), 3);
    // Without the parameter the report keeps Heketi's shape.
    assert!(s.get("/db/check").json().get("drift").is_none());

    // Drift made by hand on the stopped "nodes".
    let brick = &volume["bricks"][0];
    let (brick_id, device) = (brick["id"].as_str().unwrap(), brick["device"].as_str().unwrap());
    let node1 = s.mock_nodes()["hosts"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, h)| h["vgs"].get(format!("vg_{device}")).is_some())
        .map(|(name, _)| name.clone())
        .unwrap();
    s.kill9();
    let mut nodes = s.mock_nodes();
    let host = &mut nodes["hosts"][&node1];
    host["lvs"]
        .as_object_mut()
        .unwrap()
        .remove(&format!("vg_{device}/brick_{brick_id}"));
    host["fstab"]
        .as_array_mut()
        .unwrap()
        .retain(|l| !l.as_str().unwrap().contains(&format!("brick_{brick_id}")));
    host["lvs"][format!("vg_{device}/tp_leaked")] = json!({"pool": null, "extents": 1, "size_kib": 4096});
    host["mounts"]["/var/lib/heketi/mounts/vg_leaked/brick_x"] = json!("/dev/mapper/vg_leaked-brick_x");
    nodes["volumes"]["made_by_hand"] =
        json!({"id": "1", "layout": "Distribute", "bricks": [], "options": [], "started": true});
    s.set_mock_nodes(&nodes);
    s.restart();

    // The store alone still looks fine; the nodes check does not.
    assert_eq!(s.get("/db/check").json()["totalinconsistencies"], 0);
    let report = s.get("/db/check?nodes=true").json();
    let found = drift(&report);
    let mount = format!("/var/lib/heketi/mounts/vg_{device}/brick_{brick_id}");
    for expected in [
        ("missing-lv".to_string(), format!("vg_{device}/brick_{brick_id}")),
        ("missing-fstab-line".to_string(), mount),
        ("orphan-lv".to_string(), format!("vg_{device}/tp_leaked")),
        (
            "orphan-mount".to_string(),
            "/var/lib/heketi/mounts/vg_leaked/brick_x".to_string(),
        ),
        ("unknown-gluster-volume".to_string(), "made_by_hand".to_string()),
    ] {
        assert!(found.contains(&expected), "{expected:?} not in {found:?}");
    }
    assert_eq!(found.len(), 5, "{found:?}");
    assert_eq!(report["totalinconsistencies"], 5);
    // Each finding names its node and what the store says.
    let lost = report["drift"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "missing-lv")
        .unwrap()
        .clone();
    assert_eq!(lost["node"], json!(node1));
    assert!(lost["evidence"].as_str().unwrap().contains(brick_id), "{lost}");
}

#[test]
fn an_unreachable_node_is_reported_not_judged() {
    let mut s = Server::start();
    s.topology(3, 1);
    s.create_volume(R3);
    s.restart_with_env(vec![(
        "BRICKYARD_MOCK_FAULTS".into(),
        "node_inventory@node2:*:fail:ssh: connect to host node2 port 22: No route to host".into(),
    )]);
    let report = s.get("/db/check?nodes=true").json();
    assert_eq!(report["drift"]["findings"], json!([]), "{report}");
    let mut checked: Vec<String> = serde_json::from_value(report["drift"]["checked"].clone()).unwrap();
    checked.sort();
    assert_eq!(checked, ["node1", "node3"]);
    assert_eq!(
        report["drift"]["unreachable"],
        json!([{"node": "node2", "error": "ssh: connect to host node2 port 22: No route to host"}])
    );
}
