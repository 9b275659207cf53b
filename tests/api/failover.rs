//! Replicas on one etcd store (a real three-member cluster): one leads and
//! acts, the others forward to it; a leader killed mid-operation is
//! replaced and its journal settled; a paused leader that lost its lease
//! writes nothing once it runs again, and stops.

use std::time::{Duration, Instant};

use std::path::Path;

use brickyard::store::backend::etcd::{EtcdBackend, EtcdConfig};
use brickyard::store::backend::sled_db::SledBackend;
use brickyard::store::backend::Backend;
use brickyard::store::TreeName;

use crate::etcd_cluster::{self, EtcdCluster};
use crate::harness::{copy_dir, Options, Server};

const R3: &str = r#"{"size":10,"durability":{"type":"replicate","replicate":{"replica":3}}}"#;

fn replicas(faults: &str) -> (Server, Server) {
    let a = Server::with(Options {
        etcd: true,
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), faults.into())],
        ..Options::default()
    });
    assert!(a.wait_leading(Duration::from_secs(10)), "the first replica leads");
    // The faults are the first leader's: its successor recovers unhindered.
    let b = Server::with(Options {
        env: Vec::new(),
        ..a.replica_options()
    });
    assert_eq!(b.readiness(), (200, format!("follower of {}\n", a.base)));
    (a, b)
}

#[test]
fn a_follower_forwards_and_a_killed_leaders_operations_are_settled_by_the_next() {
    // When the leader is killed, three operations are in flight: an
    // expand whose add-brick ran on the nodes (stalled before its commit),
    // a delete whose gluster volume is gone (likewise), and a create whose
    // fourth-volume brick is being made.
    let (mut a, b) = replicas("volume_expand:1:stall:20000,volume_destroy:1:stall:20000,brick_create:13:delay:20000");
    // Everything through the follower, as a Service over both would send it.
    b.topology(3, 2);
    let kept = b.create_volume(R3);
    let expanded = b.create_volume(R3);
    let deleted = b.create_volume(R3);
    let id = |v: &serde_json::Value| v["id"].as_str().unwrap_or_default().to_string();
    let expand = b.post(&format!("/volumes/{}/expand", id(&expanded)), r#"{"expand_size":10}"#);
    assert_eq!(expand.status, 202, "{expand:?}");
    a.wait_for_fault("volume_expand", 1);
    let delete = b.delete(&format!("/volumes/{}", id(&deleted)));
    assert_eq!(delete.status, 202, "{delete:?}");
    a.wait_for_fault("volume_destroy", 1);
    let create = b.post("/volumes", R3);
    assert_eq!(create.status, 202, "{create:?}");
    a.wait_for_fault("brick_create", 1);
    a.kill9();

    assert!(b.wait_leading(Duration::from_secs(20)), "the follower takes over");
    // The queue ids the old leader handed out still answer, finally.
    for accepted in [&expand, &delete, &create] {
        let outcome = b.wait(&accepted.location());
        assert!(matches!(outcome.status, 200 | 204 | 303 | 500), "{outcome:?}");
    }
    // The acknowledged volume is still there; the expand and the delete,
    // which had changed the nodes, are each finished or undone whole; and
    // nothing is half-done, in the store or on the (mock) nodes.
    assert_eq!(b.get(&format!("/volumes/{}", id(&kept))).status, 200);
    let size = b.get(&format!("/volumes/{}", id(&expanded))).json()["size"].as_u64();
    assert!(matches!(size, Some(10 | 20)), "the expanded volume's size: {size:?}");
    assert!(matches!(b.get(&format!("/volumes/{}", id(&deleted))).status, 200 | 404));
    b.assert_consistent();
    // The new leader acts: a create through it completes.
    b.create_volume(R3);
    let metrics = b.get("/metrics").body;
    assert!(metrics.contains("brickyard_leader 1\n"), "{metrics}");
    assert!(metrics.contains("brickyard_leader_changes_total 1\n"), "{metrics}");
}

#[test]
fn a_paused_leader_that_lost_its_lease_writes_nothing_and_stops() {
    let (mut a, b) = replicas("");
    b.create_cluster();
    a.signal(libc::SIGSTOP);
    assert!(b.wait_leading(Duration::from_secs(20)), "the follower takes over");
    assert!(
        b.get("/metrics").body.contains("brickyard_leader 1\n"),
        "the new leader says so"
    );
    let clusters = b.get("/clusters").json()["clusters"].clone();
    // A request waits in the paused leader's socket; it runs when the
    // process does, before the lease renewal finds the lease gone.
    let late = std::thread::scope(|scope| {
        let request = scope.spawn(|| a.raw("POST", "/clusters", Some("{}"), &[]));
        std::thread::sleep(Duration::from_millis(300));
        a.signal(libc::SIGCONT);
        request.join()
    });
    if let Ok(reply) = late {
        assert_ne!(
            reply.status, 201,
            "the old leader wrote after losing its lease: {reply:?}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while !a.exited() {
        assert!(Instant::now() < deadline, "the old leader did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        b.get("/clusters").json()["clusters"],
        clusters,
        "nothing new in the store"
    );
    b.assert_store_consistent();
}

#[test]
fn one_etcd_member_lost_changes_nothing_and_all_lost_answers_503_until_they_return() {
    let mut etcd = EtcdCluster::start(3);
    let mut a = Server::with(Options {
        etcd_endpoints: Some(etcd.endpoints()),
        ..Options::default()
    });
    assert!(a.wait_leading(Duration::from_secs(10)), "the first replica leads");
    let b = a.replica();
    b.topology(3, 1);
    etcd.kill(0);
    let kept = b.create_volume(R3);

    for member in 1..etcd.size() {
        etcd.kill(member);
    }
    // No quorum: nobody can read, write or lead; clients are told to retry.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let r = b.get("/clusters");
        if r.status == 503 {
            assert_eq!(r.header("retry-after"), Some("2"), "{r:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no 503 without etcd: {r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }

    for member in 0..etcd.size() {
        etcd.restart(member);
    }
    etcd.wait_healthy(&[0, 1, 2]);
    // The leader either renewed its lease once etcd returned, or finds at
    // its next renewal that the lease lapsed meanwhile and stops; either
    // way it is settled a lease (5 s) and a renewal's time later. Until
    // the next leader is elected, a forwarded request is answered 503.
    let settled = Instant::now() + Duration::from_secs(8);
    while Instant::now() < settled && !a.exited() {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Service resumes, with everything acknowledged still there: reads,
    // and what only the leader answers.
    let deadline = Instant::now() + Duration::from_secs(40);
    while b.get("/clusters").status != 200 || b.get("/db/check").status != 200 {
        assert!(Instant::now() < deadline, "service did not resume once etcd returned");
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = kept["id"].as_str().unwrap_or_default();
    assert_eq!(b.get(&format!("/volumes/{id}")).status, 200);
    b.assert_consistent();
}

/// The raw entries of the version-1 fixture store, loaded under a fresh
/// etcd prefix as an older Brickyard left them.
fn version_1_store_on_etcd() -> (EtcdConfig, String) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1");
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&fixture.join("store"), copy.path());
    let sled = SledBackend::open(copy.path(), 1 << 20).unwrap();
    let mut entries = Vec::new();
    for tree in TreeName::ALL {
        let mut pairs = Vec::new();
        sled.visit(tree, b"", false, &mut |k, v| {
            pairs.push((k.to_vec(), v.to_vec()));
            Ok(true)
        })
        .unwrap();
        entries.push((tree, pairs));
    }
    let prefix = etcd_cluster::unique_prefix("migrate");
    let config = EtcdConfig::parse_url(&format!("etcd://{}/{prefix}", etcd_cluster::shared())).unwrap();
    EtcdBackend::connect(&config).unwrap().load(&entries).unwrap();
    (config, prefix)
}

#[test]
fn an_older_store_is_migrated_by_the_leader_alone() {
    let (config, prefix) = version_1_store_on_etcd();
    let raw = EtcdBackend::connect(&config).unwrap();
    let schema = || raw.get(TreeName::Meta, b"schema_version").unwrap();
    assert_eq!(schema(), Some(b"1".to_vec()));
    // Someone else leads (a leader that does not answer): the replica
    // that starts now follows, and leaves the schema alone.
    let fence = raw
        .try_lead(b"http://127.0.0.1:9", 30)
        .unwrap()
        .expect("nobody leads a fresh prefix");
    let files = tempfile::tempdir().unwrap();
    let a = Server::with(Options {
        replica_of: Some((prefix, files.path().to_path_buf())),
        unready: true,
        ..Options::default()
    });
    let (status, why) = a.readiness();
    assert_eq!(status, 503, "{why}");
    assert_eq!(
        a.get("/clusters").status,
        503,
        "a follower without a leader answers 503"
    );
    assert_eq!(schema(), Some(b"1".to_vec()), "a follower migrated the store");
    // The leader goes: this replica takes over and migrates.
    raw.resign(&fence).unwrap();
    assert!(a.wait_leading(Duration::from_secs(20)), "the replica takes over");
    let now = schema().map(|v| String::from_utf8_lossy(&v).into_owned());
    assert_ne!(now.as_deref(), Some("1"), "the leader did not migrate");
    // Through a follower, the migrated store answers as it did before.
    let b = Server::with(Options {
        unready: false,
        ..a.replica_options()
    });
    let before: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1/answers.json"))
            .unwrap(),
    )
    .unwrap();
    for (path, answer) in &before {
        let r = b.get(path);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(&r.json(), answer, "{path} changed across the migration");
    }
    b.assert_store_consistent();
}
