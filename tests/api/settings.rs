//! The volume settings of heketi.json as they reach gluster and placement
//! (pre and post request options, the per-cluster volume limit, the
//! average file size behind arbiter bricks, strict zone checking), and
//! failures of brick replacement and cloning that end without a crash.

use serde_json::{json, Value};

use crate::harness::{Options, Reply, Server};

const R3: &str = r#"{"size":10,"durability":{"type":"replicate","replicate":{"replica":3}}}"#;

fn with_settings(glusterfs: Value, faults: &str) -> Server {
    Server::with(Options {
        glusterfs: Some(glusterfs),
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), faults.into())],
        ..Options::default()
    })
}

/// The options gluster holds for a volume, as the mock recorded them.
fn gluster_options(s: &Server, name: &str) -> Vec<String> {
    s.mock_nodes()["volumes"][name]["options"]
        .as_array()
        .unwrap_or_else(|| panic!("gluster has no volume {name}"))
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn request_options_are_wrapped_in_the_configured_ones_and_the_cluster_limit_holds() {
    let s = with_settings(
        json!({
            "pre_request_volume_options": "performance.rda-cache-limit 10MB,cluster.lookup-optimize off",
            "post_request_volume_options": "server.tcp-user-timeout 42",
            "max_volumes_per_cluster": 2,
        }),
        "",
    );
    s.topology(3, 1);
    let v = s.create_volume(
        r#"{"size":1,"durability":{"type":"replicate","replicate":{"replica":3}},"glustervolumeoptions":["cluster.lookup-optimize on"]}"#,
    );
    let name = v["name"].as_str().unwrap();
    // Heketi's order: pre, the request's, post, then its own id; a later
    // setting of an option wins in gluster.
    assert_eq!(
        gluster_options(&s, name),
        [
            "performance.rda-cache-limit 10MB",
            "cluster.lookup-optimize off",
            "cluster.lookup-optimize on",
            "server.tcp-user-timeout 42",
            &format!("user.heketi.id {}", v["id"].as_str().unwrap()),
        ]
    );
    assert_eq!(
        v["glustervolumeoptions"],
        json!([
            "performance.rda-cache-limit 10MB",
            "cluster.lookup-optimize off",
            "cluster.lookup-optimize on",
            "server.tcp-user-timeout 42"
        ])
    );
    s.create_volume(R3);
    // Refused at once, as Heketi refuses what it cannot allocate.
    refused(&s.post("/volumes", R3), "Cluster has 2 volumes and limit is 2");
    s.assert_consistent();
}

/// Creates racing for a cluster's last place: the ones that lose it are
/// placed in the next cluster with room, and only when every cluster is
/// full is a create refused, naming them all.
#[test]
fn creates_racing_for_a_full_cluster_move_on_to_one_with_room() {
    let s = with_settings(json!({"max_volumes_per_cluster": 2}), "");
    for c in 0..2 {
        let cluster = s.create_cluster();
        for i in 1..=3 {
            let node = s.add_node(&cluster, i, &format!("c{c}n{i}"), &format!("10.0.{c}.{i}"));
            s.add_device(&node, "/dev/sdb");
        }
    }
    // Eight clients at once for four places.
    let answers: Vec<_> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..8).map(|_| scope.spawn(|| s.post("/volumes", R3))).collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let mut made = 0;
    for answer in answers {
        if answer.status == 202 {
            assert_eq!(s.finish(answer).status, 303);
            made += 1;
        } else {
            assert_eq!(answer.status, 500, "{answer:?}");
            assert!(
                answer.body.contains("Unable to create volume on any cluster"),
                "{}",
                answer.body
            );
        }
    }
    assert_eq!(made, 4);
    // The store's own rules; the node check would see one trusted pool,
    // as the mock keeps every cluster's volumes in one.
    s.assert_store_consistent();
}

/// Arbiter bricks are sized for the expected average file size: the
/// server's setting, unless the volume names its own.
#[test]
fn arbiter_bricks_follow_the_average_file_size() {
    let s = with_settings(json!({"average_file_size_kb": 256}), "");
    s.topology(3, 1);
    let arbiter_kib = |options: &str| -> u64 {
        let v = s.create_volume(&format!(
            r#"{{"size":100,"durability":{{"type":"replicate","replicate":{{"replica":3}}}},"glustervolumeoptions":[{options}]}}"#
        ));
        let mut sizes: Vec<u64> = v["bricks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["size"].as_u64().unwrap())
            .collect();
        sizes.sort_unstable();
        assert_eq!(sizes[1], sizes[2], "two data bricks: {sizes:?}");
        assert_eq!(sizes[1], 100 * 1024 * 1024);
        sizes[0]
    };
    // 100 GiB of data bricks over 256 KiB files.
    assert_eq!(arbiter_kib(r#""user.heketi.arbiter true""#), 100 * 1024 * 1024 / 256);
    assert_eq!(
        arbiter_kib(r#""user.heketi.arbiter true","user.heketi.average-file-size 128""#),
        100 * 1024 * 1024 / 128
    );
    s.assert_consistent();
}

/// Three nodes in two zones: strict zone checking refuses a replica-3
/// volume, from the server's setting or the volume's own option, where the
/// default places it.
#[test]
fn strict_zone_checking_needs_a_zone_per_brick_of_a_set() {
    let place = |glusterfs: Value, options: &str| -> (Server, u16) {
        let s = with_settings(glusterfs, "");
        let cluster = s.create_cluster();
        for (i, zone) in [1, 1, 2].iter().enumerate() {
            let node = s.add_node(&cluster, *zone, &format!("node{i}"), &format!("10.0.0.{}", i + 1));
            s.add_device(&node, "/dev/sdb");
        }
        let accepted = s.post(
            "/volumes",
            &format!(
                r#"{{"size":10,"durability":{{"type":"replicate","replicate":{{"replica":3}}}},"glustervolumeoptions":[{options}]}}"#
            ),
        );
        // A refusal is answered at once; a placed volume through the queue.
        let status = if accepted.status == 202 {
            s.wait(&accepted.location()).status
        } else {
            accepted.status
        };
        if status == 500 {
            assert!(
                accepted.body.contains("strict zone checking needs 3 zones"),
                "{}",
                accepted.body
            );
        }
        (s, status)
    };
    let (_, status) = place(json!({}), "");
    assert_eq!(status, 303, "two zones suffice without strict checking");
    let (s, status) = place(json!({"zone_checking": "strict"}), "");
    assert_eq!(status, 500);
    s.assert_consistent();
    let (s, status) = place(json!({}), r#""user.heketi.zone-checking strict""#);
    assert_eq!(status, 500);
    s.assert_consistent();
    // The volume's option overrides the server's.
    let (_, status) = place(
        json!({"zone_checking": "strict"}),
        r#""user.heketi.zone-checking none""#,
    );
    assert_eq!(status, 303);
}

/// `replace-brick` fails (no crash): the eviction answers the failure, the
/// old brick stays where it was, the new brick is gone from the node and
/// the store, and the nodes match the store.
#[test]
fn a_failed_replace_brick_is_undone() {
    let s = with_settings(json!({}), "brick_replace:*:fail:replace-brick commit failed on a peer");
    s.topology(4, 1);
    let v = s.create_volume(R3);
    let brick = v["bricks"][0]["id"].as_str().unwrap().to_string();
    let lvs_before = s.mock_lvs();
    let done = s.finish(s.post(&format!("/bricks/to-evict/{brick}"), ""));
    assert_eq!(done.status, 500, "{done:?}");
    assert!(
        done.body.contains("replace-brick commit failed on a peer"),
        "{}",
        done.body
    );
    let after = s.get(&format!("/volumes/{}", v["id"].as_str().unwrap())).json();
    assert_eq!(after["bricks"], v["bricks"], "the volume's bricks changed");
    assert_eq!(s.mock_lvs(), lvs_before, "a replacement brick was left on a node");
    let drift = s.get("/db/check?nodes=true").json();
    assert_eq!(drift["drift"]["findings"], json!([]), "{drift}");
    s.assert_consistent();
}

/// The clone fails in gluster (no crash): the answer says so, the source
/// is visible again and unchanged, and nothing of the clone is left.
#[test]
fn a_failed_clone_leaves_nothing() {
    let s = with_settings(
        json!({}),
        "volume_clone:*:fail:snapshot clone failed as quorum is not met",
    );
    s.topology(3, 1);
    let v = s.create_volume(R3);
    let id = v["id"].as_str().unwrap();
    let lvs_before = s.mock_lvs();
    let done = s.finish(s.post(&format!("/volumes/{id}/clone"), r#"{"name":"copy"}"#));
    assert_eq!(done.status, 500, "{done:?}");
    assert!(done.body.contains("quorum is not met"), "{}", done.body);
    assert_eq!(s.get(&format!("/volumes/{id}")).json(), v);
    assert_eq!(s.get("/volumes").json()["volumes"], json!([id]));
    assert_eq!(s.mock_lvs(), lvs_before);
    let nodes = s.mock_nodes();
    let gluster: Vec<&String> = nodes["volumes"].as_object().unwrap().keys().collect();
    assert_eq!(gluster.len(), 1, "{gluster:?}");
    s.assert_consistent();
}

/// A full cluster that also holds the requested name is refused for the
/// name, as a cluster with room is: the limit is read first, the name
/// only once nothing fits.
#[test]
fn a_full_cluster_refuses_a_name_in_use_for_the_name() {
    let s = with_settings(json!({"max_volumes_per_cluster": 2}), "");
    s.topology(3, 1);
    let named = |name: &str| {
        format!(r#"{{"size":1,"name":"{name}","durability":{{"type":"replicate","replicate":{{"replica":3}}}}}}"#)
    };
    s.create_volume(&named("first"));
    s.create_volume(&named("second"));
    refused(
        &s.post("/volumes", &named("first")),
        "Volume name 'first' already in use",
    );
    refused(
        &s.post("/volumes", &named("third")),
        "Cluster has 2 volumes and limit is 2",
    );
    s.assert_consistent();
}

/// A create refused at once (`500`, as Heketi refuses what it cannot
/// allocate) for `why`.
fn refused(answer: &Reply, why: &str) {
    assert_eq!(answer.status, 500, "{answer:?}");
    assert!(answer.body.contains(why), "{}", answer.body);
}
