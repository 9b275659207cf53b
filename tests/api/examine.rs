//! `GET /internal/state/examine/gluster`: Heketi's examiner report, the
//! store beside what each node's gluster, LVM, mounts and fstab say.

use serde_json::{json, Value};

use crate::harness::{examined_node as node_data, token, Options, Server, ADMIN_KEY};

fn bearer(t: &str) -> String {
    format!("bearer {t}")
}

const PATH: &str = "/internal/state/examine/gluster";
const R3: &str = r#"{"size":1,"durability":{"type":"replicate","replicate":{"replica":3}}}"#;

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|row| row[key].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_report_lists_each_nodes_gluster_lvm_and_mounts_beside_the_store() {
    let mut s = Server::start();
    let (cluster, nodes) = s.topology(3, 1);
    let volume = s.create_volume(R3);
    let name = volume["name"].as_str().unwrap();

    let reply = s.get(PATH);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json; charset=UTF-8"));
    assert!(reply.body.starts_with("{\n    \"heketidb\": {"), "{}", reply.body);
    let report = reply.json();
    assert_eq!(
        report["report"],
        json!([
            "OnDemand Examiner invoked while 0 ops are in flight",
            "heketi volume list matches with volume list of all nodes"
        ])
    );
    // The store as `/db/dump` has it.
    assert_eq!(report["heketidb"], s.get("/db/dump").json());
    assert_eq!(report["clusters"][0]["ClusterHeketiID"], json!(cluster));
    assert_eq!(report["clusters"][0]["NodesData"].as_array().unwrap().len(), 3);

    for brick in volume["bricks"].as_array().unwrap() {
        let (node, device, id) = (
            brick["node"].as_str().unwrap(),
            brick["device"].as_str().unwrap(),
            brick["id"].as_str().unwrap(),
        );
        assert!(nodes.iter().any(|n| n == node));
        let data = node_data(&report, node);
        // Gluster: the pool's one volume, with its three bricks.
        let volumes = &data["VolumeInfo"]["Volumes"];
        assert_eq!(volumes["Count"], 1);
        assert_eq!(volumes["VolumeList"][0]["VolumeName"], json!(name));
        assert_eq!(volumes["VolumeList"][0]["StatusStr"], "Started");
        assert_eq!(volumes["VolumeList"][0]["ReplicaCount"], 3);
        let bricks = names(&volumes["VolumeList"][0]["Bricks"]["BrickList"], "Name");
        assert!(bricks.contains(&format!(
            "{}:{}",
            hostname(&s, node, "storage"),
            brick["path"].as_str().unwrap()
        )));
        // LVM: the device's PV and VG, the brick's LV in its pool.
        let vg = format!("vg_{device}");
        assert_eq!(names(&data["LVMPVInfo"]["report"][0]["pv"], "vg_name"), [vg.as_str()]);
        assert_eq!(names(&data["LVMVGInfo"]["report"][0]["vg"], "vg_name"), [vg.as_str()]);
        assert_eq!(data["LVMVGInfo"]["report"][0]["vg"][0]["lv_count"], "2");
        let lvs = &data["LVMLVInfo"]["report"][0]["lv"];
        let lv = lvs
            .as_array()
            .unwrap()
            .iter()
            .find(|lv| lv["lv_name"] == format!("brick_{id}"))
            .unwrap_or_else(|| panic!("brick_{id} not in {lvs}"));
        assert_eq!(
            (lv["vg_name"].as_str(), lv["pool_lv"].as_str()),
            (Some(vg.as_str()), Some(&*format!("tp_{id}")))
        );
        // fstab: the brick's line, mounted.
        let statuses = data["BricksMountStatus"]["Statuses"].as_array().unwrap();
        let mount_point = format!("/var/lib/heketi/mounts/{vg}/brick_{id}");
        let line = statuses.iter().find(|l| l["MountPoint"] == json!(mount_point)).unwrap();
        assert_eq!(line["Mounted"], true);
        assert_eq!(line["Type"], "xfs");
        assert_eq!(data["BlockVolumeNames"], Value::Null);
    }

    // A node that lost the volume, and a brick no longer mounted.
    let brick = &volume["bricks"][0];
    let (node, device, id) = (
        brick["node"].as_str().unwrap().to_string(),
        brick["device"].as_str().unwrap().to_string(),
        brick["id"].as_str().unwrap().to_string(),
    );
    let host = hostname(&s, &node, "manage");
    s.kill9();
    let mut state = s.mock_nodes();
    state["hosts"][&host]["mounts"]
        .as_object_mut()
        .unwrap()
        .remove(&format!("/var/lib/heketi/mounts/vg_{device}/brick_{id}"));
    state["volumes"]["made_by_hand"] =
        json!({"id": "1", "layout": "Distribute", "bricks": [], "options": [], "started": false});
    s.set_mock_nodes(&state);
    s.restart();
    let report = s.get(PATH).json();
    let lines = report["report"].as_array().unwrap();
    for n in &nodes {
        let line = format!("heketi volume list does not match with volume list of node {n}");
        assert!(lines.contains(&json!(line)), "{line} not in {lines:?}");
    }
    assert_eq!(lines.len(), 4, "{lines:?}");
    let data = node_data(&report, &node);
    let unmounted = data["BricksMountStatus"]["Statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["MountPoint"] == format!("/var/lib/heketi/mounts/vg_{device}/brick_{id}"))
        .unwrap();
    assert_eq!(unmounted["Mounted"], false);
    let listed = names(&data["VolumeInfo"]["Volumes"]["VolumeList"], "VolumeName");
    assert_eq!(listed, ["made_by_hand".to_string(), name.to_string()]);
}

/// A node's first hostname of `kind` (`manage` or `storage`).
fn hostname(s: &Server, node: &str, kind: &str) -> String {
    let info = s.get(&format!("/nodes/{node}")).json();
    info["hostnames"][kind][0].as_str().unwrap().to_string()
}

/// Every examiner query to node2 fails.
const NODE2_UNREACHABLE: &str = "examine_lvm@node2:*:fail:ssh: connect to host node2 port 22: No route to host,\
    examine_volumes@node2:*:fail:no route,examine_mounts@node2:*:fail:no route";

#[test]
fn a_node_that_cannot_answer_is_reported_and_the_rest_still_read() {
    let faults = ("BRICKYARD_MOCK_FAULTS".to_string(), NODE2_UNREACHABLE.to_string());
    let s = Server::with(Options {
        env: vec![faults],
        ..Options::default()
    });
    let (_, nodes) = s.topology(3, 1);
    s.create_volume(R3);
    let report = s.get(PATH).json();
    let lines = names_of(&report["report"]);
    let node2 = &nodes[1];
    for expected in [
        "could not fetch data from node node2".to_string(),
        "could not fetch LVM pvs data from node node2 : ssh: connect to host node2 port 22: No route to host"
            .to_string(),
        "could not fetch LVM vgs data from node node2 : ssh: connect to host node2 port 22: No route to host"
            .to_string(),
        "could not fetch LVM lvs data from node node2 : ssh: connect to host node2 port 22: No route to host"
            .to_string(),
        "could not fetch brick mount status from node node2 : no route".to_string(),
        format!("heketi volume list could not be compared with volume list of node {node2} due to missing info"),
    ] {
        assert!(lines.contains(&expected), "{expected:?} not in {lines:?}");
    }
    assert_eq!(lines.len(), 7, "{lines:?}");
    let data = node_data(&report, node2);
    for part in ["VolumeInfo", "LVMPVInfo", "LVMVGInfo", "LVMLVInfo", "BricksMountStatus"] {
        assert_eq!(data[part], Value::Null, "{part}");
    }
    // The other nodes were read in full.
    let node1 = node_data(&report, &nodes[0]);
    assert_eq!(node1["VolumeInfo"]["Volumes"]["Count"], 1);
    assert!(node1["LVMLVInfo"]["report"][0]["lv"].as_array().unwrap().len() == 2);
}

fn names_of(lines: &Value) -> Vec<String> {
    lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_empty_store_reports_null_clusters() {
    let s = Server::start();
    let report = s.get(PATH).json();
    assert_eq!(report["clusters"], Value::Null);
    assert_eq!(
        report["report"],
        json!(["OnDemand Examiner invoked while 0 ops are in flight"])
    );
    // A cluster without nodes: nothing could be read from it.
    let cluster = s.create_cluster();
    let report = s.get(PATH).json();
    assert_eq!(
        report["report"],
        json!([
            "OnDemand Examiner invoked while 0 ops are in flight",
            format!("not able to fetch any data from cluster {cluster}"),
            "heketi volume list matches with volume list of all nodes"
        ])
    );
    assert_eq!(
        report["clusters"],
        json!([{"ClusterHeketiID": cluster, "NodesData": null}])
    );
}

#[test]
fn only_administrators_examine_and_every_mode_allows_it() {
    let s = Server::with(Options {
        auth: true,
        ..Options::default()
    });
    s.assert_admin_only_get(PATH);
    // Local-client first: read-only mode refuses the change back.
    for mode in ["local-client", "read-only"] {
        assert_eq!(s.post("/admin", &format!(r#"{{"state":"{mode}"}}"#)).status, 204);
        assert_eq!(s.get(PATH).status, 200, "{mode}");
    }
    // Local-client mode allows GETs from anywhere, as Heketi does.
    let remote = reqwest::blocking::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let from_afar = remote
        .get(format!("{}{PATH}", s.base))
        .header("Authorization", bearer(&token("admin", ADMIN_KEY, "GET", PATH)))
        .send()
        .unwrap();
    assert_eq!(from_afar.status().as_u16(), 200);
}

/// Heketi asks every node for the block volumes of every block-hosting
/// volume: `<hosting volume>/<name>`, `null` when there are none, and a
/// report line naming the hosting volume when a node cannot list them.
#[test]
fn each_node_lists_the_block_volumes_of_every_hosting_volume() {
    let mut s = Server::start();
    s.topology(3, 2);
    let hosting =
        s.create_volume(r#"{"size":100,"block":true,"durability":{"type":"replicate","replicate":{"replica":3}}}"#);
    let (hv_id, hv_name) = (hosting["id"].as_str().unwrap(), hosting["name"].as_str().unwrap());
    let listed = |report: &Value| -> Vec<Value> {
        report["clusters"][0]["NodesData"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["BlockVolumeNames"].clone())
            .collect()
    };
    assert_eq!(listed(&s.get(PATH).json()), vec![Value::Null; 3]);

    for name in ["lun1", "lun0"] {
        let body = format!(r#"{{"size":1,"name":"{name}"}}"#);
        assert_eq!(s.finish(s.post("/blockvolumes", &body)).status, 303);
    }
    let both = json!([format!("{hv_name}/lun0"), format!("{hv_name}/lun1")]);
    let report = s.get(PATH).json();
    assert_eq!(listed(&report), vec![both.clone(); 3], "{report}");

    s.restart_with_env(vec![(
        "BRICKYARD_MOCK_FAULTS".into(),
        "block_list@node2:*:fail:gluster-block is down".into(),
    )]);
    let report = s.get(PATH).json();
    assert!(
        report["report"].as_array().unwrap().contains(&json!(format!(
            "could not fetch block volume list for block hosting volume {hv_id} : gluster-block is down"
        ))),
        "{report}"
    );
    // node2 lists nothing; the others as before.
    let seen = listed(&report);
    assert_eq!(seen.iter().filter(|n| n.is_null()).count(), 1, "{report}");
    assert_eq!(seen.iter().filter(|n| **n == both).count(), 2, "{report}");
}
