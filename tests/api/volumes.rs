use insta::assert_snapshot;
use serde_json::{json, Value};

use crate::harness::{Options, Redactor, Server};

const R3: &str = r#"{"size":10,"durability":{"type":"replicate","replicate":{"replica":3}}}"#;

#[test]
fn volume_create_info_list_and_delete() {
    let s = Server::start();
    let mut r = Redactor::default();
    let (cluster, nodes) = s.topology(3, 1);
    r.redact(&cluster);
    let accepted = s.post("/volumes", R3);
    assert_snapshot!("volume_create_accepted", r.reply(&accepted));
    let done = s.wait(&accepted.location());
    assert_eq!(done.status, 303);
    let id = done.location().trim_start_matches("/volumes/").to_string();
    let info = s.get(&format!("/volumes/{id}"));
    let v = info.json();
    assert_eq!(v["size"], 10);
    assert_eq!(v["name"], format!("vol_{id}"));
    assert_eq!(
        v["durability"],
        json!({"type": "replicate", "replicate": {"replica": 3}, "disperse": {}})
    );
    assert_eq!(v["glustervolumeoptions"], json!(["", ""]));
    assert_eq!(v["snapshot"], json!({"enable": false, "factor": 1}));
    assert_eq!(v["blockinfo"], json!({}));
    assert_eq!(v["mount"]["glusterfs"]["hosts"].as_array().unwrap().len(), 3);
    let bricks = v["bricks"].as_array().unwrap();
    assert_eq!(bricks.len(), 3);
    let brick_nodes: std::collections::BTreeSet<_> = bricks.iter().map(|b| b["node"].as_str().unwrap()).collect();
    assert_eq!(brick_nodes.len(), 3, "one brick per node");
    assert!(bricks.iter().all(|b| b["size"] == 10 * 1024 * 1024));
    let mut ids: Vec<&str> = bricks.iter().map(|b| b["id"].as_str().unwrap()).collect();
    let unsorted = ids.clone();
    ids.sort();
    assert_eq!(ids, unsorted, "bricks sorted by id");
    for n in &nodes {
        r.redact(n);
    }
    // Which node holds which brick, and the node order, vary from run to
    // run; the shape and every other byte do not.
    let uniform = regex::Regex::new("<id[0-9]+>")
        .unwrap()
        .replace_all(&r.reply(&info), "<id>")
        .into_owned();
    let uniform = regex::Regex::new(r"10\.0\.0\.[0-9]")
        .unwrap()
        .replace_all(&uniform, "10.0.0.x")
        .into_owned();
    assert_snapshot!("volume_info", uniform);
    assert_eq!(s.get("/volumes").json(), json!({"volumes": [id]}));
    assert_eq!(s.get(&format!("/clusters/{cluster}")).json()["volumes"], json!([id]));

    // Each device paid exactly the brick's pool: 10 GiB + metadata.
    let device = s.get(&format!("/nodes/{}", nodes[0])).json()["devices"][0].clone();
    assert_eq!(device["storage"]["used"], 10_539_008);
    assert_eq!(device["bricks"].as_array().unwrap().len(), 1);

    // The nodes ran Heketi's command lines.
    let all: Vec<String> = (1..=3).flat_map(|i| s.mock_commands(&format!("node{i}"))).collect();
    assert!(all.iter().any(|c| c
        .contains("lvcreate -qq --autobackup=n --poolmetadatasize 53248K --chunksize 256K --size 10485760K --thin")));
    assert!(all
        .iter()
        .any(|c| c.starts_with("mkfs.xfs -i size=512 -n size=8192 /dev/mapper/vg_")));
    assert!(all.iter().any(|c| c.starts_with(&format!(
        "gluster --mode=script --timeout=600 volume create vol_{id} replica 3 10.0.0."
    ))));
    assert!(all
        .iter()
        .any(|c| c == &format!("gluster --mode=script --timeout=600 volume set vol_{id} user.heketi.id {id}")));
    assert_eq!(s.mock_lvs().len(), 6, "a pool and a thin LV per brick");
    s.assert_consistent();

    let deleted = s.finish(s.delete(&format!("/volumes/{id}")));
    assert_snapshot!("volume_delete_done", r.reply(&deleted));
    assert_eq!(s.get(&format!("/volumes/{id}")).status, 404);
    assert_eq!(s.get("/volumes").json(), json!({"volumes": []}));
    let device = s.get(&format!("/nodes/{}", nodes[0])).json()["devices"][0].clone();
    assert_eq!(device["storage"]["used"], 0);
    assert_eq!(device["storage"]["free"], device["storage"]["total"]);
    assert!(s.mock_lvs().is_empty(), "{:?}", s.mock_lvs());
    assert!(s.mock_nodes()["volumes"].as_object().unwrap().is_empty());
    s.assert_consistent();
}

#[test]
fn server_defaults_follow_heketi() {
    let s = Server::start();
    s.topology(3, 1);
    // No durability: distribute only, echoed as sent.
    let v = s.create_volume(r#"{"size":10}"#);
    assert_eq!(
        v["durability"],
        json!({"type": "none", "replicate": {}, "disperse": {}})
    );
    assert_eq!(v["bricks"].as_array().unwrap().len(), 1);
    // replicate without replica means 2 and echoes `{}`.
    let v = s.create_volume(r#"{"size":10,"durability":{"type":"replicate"}}"#);
    assert_eq!(v["durability"]["replicate"], json!({}));
    assert_eq!(v["bricks"].as_array().unwrap().len(), 2);
    // heketi-cli sends the disperse defaults along; they are echoed.
    let v = s.create_volume(r#"{"size":4,"durability":{"type":"replicate","replicate":{"replica":3},"disperse":{"data":4,"redundancy":2}},"snapshot":{"enable":true,"factor":1.5},"gid":2001,"name":"pvc_ns_claim_1"}"#);
    assert_eq!(v["durability"]["disperse"], json!({"data": 4, "redundancy": 2}));
    assert_eq!(v["snapshot"], json!({"enable": true, "factor": 1.5}));
    assert_eq!(v["gid"], 2001);
    assert_eq!(v["name"], "pvc_ns_claim_1");
    let brick = v["bricks"][0]["path"].as_str().unwrap().to_string();
    let commands: Vec<String> = (1..=3).flat_map(|i| s.mock_commands(&format!("node{i}"))).collect();
    assert!(commands.contains(&format!("chown :2001 {brick}")), "{commands:?}");
    assert!(commands.contains(&format!("chmod 2775 {brick}")));
    // Options compose as Heketi does.
    let v = s.create_volume(r#"{"size":1,"glustervolumeoptions":["performance.rda-cache-limit 10MB"]}"#);
    assert_eq!(
        v["glustervolumeoptions"],
        json!(["", "performance.rda-cache-limit 10MB", ""])
    );
    s.assert_consistent();
}

#[test]
fn volume_create_errors_in_heketis_order() {
    let s = Server::start();
    let mut r = Redactor::default();
    assert_snapshot!("volume_no_clusters", r.reply(&s.post("/volumes", r#"{"size":1}"#)));
    let (cluster, _) = s.topology(3, 1);
    r.redact(&cluster);
    let cases = [
        ("volume_blank", "{}"),
        ("volume_bad_name", r#"{"size":1,"name":"a.b"}"#),
        ("volume_negative_gid", r#"{"size":1,"gid":-1}"#),
        ("volume_huge_gid", r#"{"size":1,"gid":2147483647}"#),
        ("volume_unknown_type", r#"{"size":1,"durability":{"type":"mirror"}}"#),
        (
            "volume_bad_factor",
            r#"{"size":1,"snapshot":{"enable":true,"factor":0.5}}"#,
        ),
        (
            "volume_replica_4",
            r#"{"size":1,"durability":{"type":"replicate","replicate":{"replica":4}}}"#,
        ),
        (
            "volume_disperse_unset",
            r#"{"size":1,"durability":{"type":"disperse"}}"#,
        ),
        (
            "volume_missing_cluster",
            r#"{"size":1,"clusters":["0123456789abcdef0123456789abcdef"]}"#,
        ),
        (
            "volume_below_minimum",
            r#"{"size":1,"durability":{"type":"disperse","disperse":{"data":4,"redundancy":2}}}"#,
        ),
        (
            "volume_no_space",
            r#"{"size":100000,"durability":{"type":"replicate","replicate":{"replica":3}}}"#,
        ),
        (
            "volume_bad_tag_rule",
            r#"{"size":1,"glustervolumeoptions":["user.heketi.device-tag-match nonsense"]}"#,
        ),
        (
            "volume_arbiter_needs_replica_3",
            r#"{"size":1,"glustervolumeoptions":["user.heketi.arbiter true"]}"#,
        ),
    ];
    for (name, body) in cases {
        assert_snapshot!(name, r.reply(&s.post("/volumes", body)));
    }
    assert_eq!(s.post("/volumes", "{").status, 422);
    assert_eq!(s.post("/volumes", r#"{"size":"big"}"#).status, 422);
    // Hostile option values never reach a shell unquoted.
    let v = s.create_volume(r#"{"size":1,"glustervolumeoptions":["user.note $(reboot)"]}"#);
    let host_cmds: Vec<String> = (1..=3).flat_map(|i| s.mock_commands(&format!("node{i}"))).collect();
    assert!(host_cmds.iter().any(|c| c.ends_with(&format!(
        "volume set {} user.note '$(reboot)'",
        v["name"].as_str().unwrap()
    ))));
    // Names are unique per cluster.
    s.create_volume(r#"{"size":1,"name":"taken"}"#);
    assert_snapshot!(
        "volume_name_taken",
        r.reply(&s.post("/volumes", r#"{"size":1,"name":"taken"}"#))
    );
    // A cluster with both flags off takes nothing.
    let off = s.post("/clusters", "{}").json()["id"].as_str().unwrap().to_string();
    let refused = s.post("/volumes", &json!({"size": 1, "clusters": [off]}).to_string());
    assert_eq!(
        refused.body,
        "Failed to allocate new volume: Cluster has disabled all volume types\n"
    );
    s.assert_consistent();
}

#[test]
fn expand_clone_and_restrictions() {
    let s = Server::start();
    let mut r = Redactor::default();
    s.topology(3, 2);
    let v = s.create_volume(R3);
    let id = v["id"].as_str().unwrap().to_string();
    r.redact(&id);
    let expanded = s.finish(s.post(&format!("/volumes/{id}/expand"), r#"{"expand_size":10}"#));
    assert_eq!((expanded.status, expanded.location()), (303, format!("/volumes/{id}")));
    let v = s.get(&format!("/volumes/{id}")).json();
    assert_eq!(v["size"], 20);
    assert_eq!(v["bricks"].as_array().unwrap().len(), 6);
    assert!(
        s.mock_nodes()["volumes"][v["name"].as_str().unwrap()]["bricks"]
            .as_array()
            .unwrap()
            .len()
            == 6
    );
    assert_snapshot!(
        "volume_expand_blank",
        r.reply(&s.post(&format!("/volumes/{id}/expand"), "{}"))
    );
    assert_eq!(
        s.post(
            "/volumes/0123456789abcdef0123456789abcdef/expand",
            r#"{"expand_size":1}"#
        )
        .status,
        404
    );

    let cloned = s.finish(s.post(&format!("/volumes/{id}/clone"), r#"{"name":"snapclone"}"#));
    assert_eq!(cloned.status, 303);
    let clone = s.get(&cloned.location()).json();
    assert_eq!(clone["name"], "snapclone");
    assert_eq!(clone["size"], 20);
    assert_eq!(clone["bricks"].as_array().unwrap().len(), 6);
    assert!(clone["bricks"][0]["path"]
        .as_str()
        .unwrap()
        .starts_with("/run/gluster/snaps/"));
    // Clones share the source's pools: no extra space is taken.
    let used_before: u64 = device_used(&s);
    s.assert_consistent();
    // Deleting the source keeps the pools the clone still uses.
    assert_eq!(s.finish(s.delete(&format!("/volumes/{id}"))).status, 204);
    assert_eq!(device_used(&s), used_before);
    s.assert_consistent();
    let clone_id = clone["id"].as_str().unwrap();
    assert_eq!(s.finish(s.delete(&format!("/volumes/{clone_id}"))).status, 204);
    assert_eq!(device_used(&s), 0);
    assert!(s.mock_lvs().is_empty(), "{:?}", s.mock_lvs());
    s.assert_consistent();

    // Block restriction only applies to block-hosting volumes.
    let plain = s.create_volume(R3)["id"].as_str().unwrap().to_string();
    r.redact(&plain);
    assert_snapshot!(
        "volume_restriction_not_block",
        r.reply(&s.post(
            &format!("/volumes/{plain}/block-restriction"),
            r#"{"restriction":"locked"}"#
        ))
    );
    assert_snapshot!(
        "volume_restriction_bad_value",
        r.reply(&s.post(
            &format!("/volumes/{plain}/block-restriction"),
            r#"{"restriction":"sealed"}"#
        ))
    );
    let block =
        s.create_volume(r#"{"size":100,"block":true,"durability":{"type":"replicate","replicate":{"replica":3}}}"#);
    assert_eq!(block["block"], true);
    assert_eq!(block["blockinfo"], json!({"freesize": 98, "reservedsize": 2}));
    assert_eq!(block["glustervolumeoptions"], json!(["", "group gluster-block", ""]));
    let bid = block["id"].as_str().unwrap();
    let locked = s.finish(s.post(
        &format!("/volumes/{bid}/block-restriction"),
        r#"{"restriction":"locked"}"#,
    ));
    assert_eq!(locked.status, 303);
    assert_eq!(s.get(&locked.location()).json()["blockinfo"]["restriction"], "locked");
    assert_eq!(
        s.post(&format!("/volumes/{bid}/clone"), "{}").body,
        format!("Failed clone volume {bid}: Cloning of block hosting volumes is not supported\n")
    );
    s.assert_consistent();
}

fn device_used(s: &Server) -> u64 {
    s.devices().iter().map(|d| d["storage"]["used"].as_u64().unwrap()).sum()
}

#[test]
fn protected_and_conflicting_deletes() {
    let s = Server::start();
    s.topology(3, 1);
    let db = s.create_volume(
        r#"{"size":1,"name":"heketidbstorage","durability":{"type":"replicate","replicate":{"replica":3}}}"#,
    );
    let reply = s.delete(&format!("/volumes/{}", db["id"].as_str().unwrap()));
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (409, "Cannot delete volume containing the Heketi database\n")
    );
    assert_eq!(
        s.delete("/volumes/0123456789abcdef0123456789abcdef").body,
        "Id not found\n"
    );
    // Devices holding bricks cannot be deleted.
    let node = s.first_node();
    let device = s.get(&format!("/nodes/{node}")).json()["devices"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.set_state("devices", &device, "offline");
    let reply = s.delete(&format!("/devices/{device}"));
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.body, format!("device: {device} is not in failed state\n"));
    assert_eq!(
        s.post("/bricks/to-evict/0123456789abcdef0123456789abcdef", "").status,
        404
    );
    // Block volumes: none exist, and creating one says what is missing.
    assert_eq!(s.get("/blockvolumes").json(), json!({"blockvolumes": []}));
    let refused = s.post("/blockvolumes", r#"{"size":1}"#);
    assert_eq!(refused.status, 500, "{refused:?}");
    assert!(
        refused.body.starts_with("Failed to allocate new block volume: "),
        "{refused:?}"
    );
    assert_eq!(s.get("/blockvolumes/0123456789abcdef0123456789abcdef").status, 404);
}

#[test]
fn a_full_queue_answers_429_with_retry_after() {
    let s = Server::with(Options {
        env: vec![
            ("HEKETI_MAX_INFLIGHT_OPERATIONS".into(), "1".into()),
            ("BRICKYARD_MAX_QUEUED_OPERATIONS".into(), "0".into()),
            ("BRICKYARD_MOCK_FAULTS".into(), "volume_create:1:delay:1500".into()),
        ],
        ..Options::default()
    });
    let mut r = Redactor::default();
    s.topology(3, 1);
    let first = s.post("/volumes", R3);
    assert_eq!(first.status, 202);
    let busy = s.post("/volumes", R3);
    assert_snapshot!("volume_busy", r.reply(&busy));
    assert_eq!(s.wait(&first.location()).status, 303);
    assert_eq!(s.finish(s.post("/volumes", R3)).status, 303);
}

#[test]
fn requests_beyond_the_limit_wait_instead_of_failing() {
    let s = Server::with(Options {
        env: vec![
            ("HEKETI_MAX_INFLIGHT_OPERATIONS".into(), "1".into()),
            ("BRICKYARD_MOCK_FAULTS".into(), "volume_create:1:delay:500".into()),
        ],
        ..Options::default()
    });
    s.topology(3, 1);
    let first = s.post("/volumes", R3);
    let second = s.post("/volumes", R3);
    assert_eq!((first.status, second.status), (202, 202));
    assert_eq!(s.wait(&first.location()).status, 303);
    assert_eq!(s.wait(&second.location()).status, 303);
    s.assert_consistent();
}

#[test]
fn provisioner_flow() {
    // What the Kubernetes provisioner does: create, poll, read volume,
    // cluster and nodes, expand by delta, delete.
    let s = Server::with(Options {
        auth: true,
        ..Options::default()
    });
    s.topology(3, 1);
    let body = json!({
        "size": 5, "name": "vol_default_claim1_abc", "gid": 2000,
        "durability": {"type": "replicate", "replicate": {"replica": 3}},
        "snapshot": {"enable": true, "factor": 1.0},
        "glustervolumeoptions": ["client.ssl on", " server.ssl on"]
    });
    let v = s.create_volume(&body.to_string());
    let cluster = s.get(&format!("/clusters/{}", v["cluster"].as_str().unwrap())).json();
    let mut endpoints = Vec::new();
    for n in cluster["nodes"].as_array().unwrap() {
        endpoints.extend(
            s.get(&format!("/nodes/{}", n.as_str().unwrap())).json()["hostnames"]["storage"]
                .as_array()
                .unwrap()
                .clone(),
        );
    }
    assert_eq!(endpoints.len(), 3);
    let id = v["id"].as_str().unwrap();
    let grown = s.finish(s.post(&format!("/volumes/{id}/expand"), r#"{"expand_size":3}"#));
    assert_eq!(s.get(&grown.location()).json()["size"], 8);
    assert_eq!(s.finish(s.delete(&format!("/volumes/{id}"))).status, 204);
    s.assert_consistent();
}

/// Heketi's `ErrMaxBricks`: its sizings stop at the first one past
/// `max_bricks_per_volume`, and an expansion answers with that error,
/// whether or not smaller bricks would have had room.
#[test]
fn an_expand_past_the_brick_limit_answers_heketis_error() {
    let s = Server::with(Options {
        glusterfs: Some(json!({"max_bricks_per_volume": 6})),
        ..Options::default()
    });
    s.topology(3, 1);
    let v = s.create_volume(r#"{"size":2,"durability":{"type":"replicate","replicate":{"replica":3}}}"#);
    let id = v["id"].as_str().unwrap().to_string();
    // One more set of three fits the limit of six.
    let grown = s.finish(s.post(&format!("/volumes/{id}/expand"), r#"{"expand_size":1}"#));
    assert_eq!(grown.status, 303);
    let refused = s.post(&format!("/volumes/{id}/expand"), r#"{"expand_size":1}"#);
    assert_eq!(
        (refused.status, refused.body.as_str()),
        (
            500,
            "Failed to allocate volume expansion: Maximum number of bricks reached.\n"
        )
    );
    // Nothing was reserved for it.
    let after = s.get(&format!("/volumes/{id}")).json();
    assert_eq!(
        (after["size"].as_u64(), after["bricks"].as_array().map(Vec::len)),
        (Some(3), Some(6))
    );
    assert_eq!(s.get("/operations").json()["total"], 0);
    s.assert_consistent();
}

/// A cluster lists the volumes clients may see in it, and only those: not
/// another cluster's, not one still being created.
#[test]
fn a_cluster_lists_only_its_own_finished_volumes() {
    let s = Server::with(Options {
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), "volume_create:4:delay:3000".into())],
        ..Options::default()
    });
    let clusters: Vec<String> = (0..2)
        .map(|c| {
            let cluster = s.create_cluster();
            for i in 1..=3 {
                let node = s.add_node(&cluster, i, &format!("c{c}n{i}"), &format!("10.0.{c}.{i}"));
                s.add_device(&node, "/dev/sdb");
            }
            cluster
        })
        .collect();
    let create_in = |cluster: &str| {
        json!({"size": 1, "clusters": [cluster], "durability": {"type": "replicate", "replicate": {"replica": 3}}})
            .to_string()
    };
    let id = |v: Value| v["id"].as_str().unwrap().to_string();
    let mut first = vec![id(s.create_volume(&create_in(&clusters[0])))];
    first.push(id(s.create_volume(&create_in(&clusters[0]))));
    first.sort();
    let second = id(s.create_volume(&create_in(&clusters[1])));
    // The fourth create waits before its gluster volume exists.
    let pending = s.post("/volumes", &create_in(&clusters[1]));
    assert_eq!(pending.status, 202);
    s.wait_for_fault("volume_create", 1);
    let listed = |c: &str| s.get(&format!("/clusters/{c}")).json()["volumes"].clone();
    assert_eq!(listed(&clusters[0]), json!(first));
    assert_eq!(listed(&clusters[1]), json!([second]));
    assert_eq!(s.get("/volumes").json()["volumes"].as_array().unwrap().len(), 3);
    let done = s.wait(&pending.location());
    assert_eq!(done.status, 303, "{done:?}");
    let fourth = done.location().trim_start_matches("/volumes/").to_string();
    let mut both = vec![second, fourth];
    both.sort();
    assert_eq!(listed(&clusters[1]), json!(both));
    assert_eq!(listed(&clusters[0]), json!(first));
}
