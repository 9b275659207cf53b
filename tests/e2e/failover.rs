//! Two replicas on a real three-member etcd store, acting on the real
//! nodes over SSH: the leader is killed in the middle of a replica-3
//! create, the follower takes over, settles the create from the journal
//! (on these nodes, a create that did not commit is rolled back), and every
//! node is left as the store says: the reconciler finds no drift.

use std::time::Duration;

use serde_json::{json, Value};

use super::etcd_cluster::EtcdCluster;
use super::harness::{Options, Server};
use super::testbed::Testbed;
use super::{assert_nodes_clean, assert_space_whole, load_topology, remove_topology, volume_body, wait_for};

const DELAY_FILE: &str = "/run/brickyard-test/lvcreate-delay";

/// Brick LVs on `node` (the stand-in's `/dev/mapper` links).
fn brick_lvs(tb: &Testbed, node: usize) -> usize {
    tb.sh(node, "ls /dev/mapper | grep -c -- '-brick_' || true")
        .trim()
        .parse()
        .unwrap_or(0)
}

/// What the reconciler finds, with the nodes every replica reads.
fn drift(s: &Server) -> Value {
    let report = s.get("/internal/state/reconcile");
    assert_eq!(report.status, 200, "{report:?}");
    report.json()
}

pub fn leader_killed_mid_create_is_settled_by_the_follower(tb: &Testbed) {
    let etcd = EtcdCluster::start(3);
    let mut a = Server::with(Options {
        glusterfs: Some(json!({"executor": "ssh", "sshexec": tb.sshexec()})),
        etcd_endpoints: Some(etcd.endpoints()),
        wait_secs: 180,
        ..Options::default()
    });
    assert!(a.wait_leading(Duration::from_secs(20)), "the first replica leads");
    let b = a.replica();
    // Everything goes through the follower, as a Service would send it.
    load_topology(tb, &b);

    // Node 3 makes its brick's LV 3 s late: the leader is killed the
    // moment it appears, with the rest of the create (file system, mount,
    // gluster volume, commit) still to come.
    tb.sh(3, &format!("mkdir -p /run/brickyard-test && echo 3 > {DELAY_FILE}"));
    let accepted = b.post("/volumes", &volume_body(1, 3, 0));
    assert_eq!(accepted.status, 202, "{accepted:?}");
    wait_for("node 3's brick LV", 60, || brick_lvs(tb, 3) > 0);
    a.kill9();
    tb.sh(3, &format!("rm -f {DELAY_FILE}"));

    assert!(b.wait_leading(Duration::from_secs(30)), "the follower takes over");
    let outcome = b.wait(&accepted.location());
    println!("  the interrupted create ended with {}", outcome.status);
    match outcome.status {
        // Finished by the new leader: the volume is whole in gluster.
        303 => {
            let volume = b.get(outcome.header("location").unwrap_or_default()).json();
            let name = volume["name"].as_str().unwrap();
            let info = tb.sh(1, &format!("gluster --mode=script volume info {name}"));
            assert!(info.contains("Number of Bricks: 1 x 3 = 3"), "{info}");
            assert!(info.contains("Status: Started"), "{info}");
            let deleted = b.finish(b.delete(&format!("/volumes/{}", volume["id"].as_str().unwrap())));
            assert_eq!(deleted.status, 204, "{deleted:?}");
        }
        // Rolled back: nothing of it on any node.
        500 => assert_nodes_clean(tb, &[1, 2, 3]),
        other => panic!("the interrupted create answered {other}: {outcome:?}"),
    }
    assert_eq!(b.get("/volumes").json()["volumes"], json!([]));
    let report = drift(&b);
    assert_eq!(
        report["findings"],
        json!([]),
        "the nodes drifted from the store: {report}"
    );
    assert_eq!(report["unreachable"], json!([]), "{report}");
    assert_space_whole(&b);
    b.assert_consistent();

    // The new leader acts on the nodes: a replica-3 volume, made and gone.
    let volume = b.create_volume(&volume_body(1, 3, 0));
    let name = volume["name"].as_str().unwrap();
    let info = tb.sh(2, &format!("gluster --mode=script volume info {name}"));
    assert!(info.contains("Status: Started"), "{info}");
    let deleted = b.finish(b.delete(&format!("/volumes/{}", volume["id"].as_str().unwrap())));
    assert_eq!(deleted.status, 204, "{deleted:?}");
    remove_topology(tb, &b);
    assert_nodes_clean(tb, &[1, 2, 3]);
    drop(etcd);
}
