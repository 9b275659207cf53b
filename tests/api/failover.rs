//! Replicas on one etcd store (a real three-member cluster): one leads and
//! acts, the others forward to it; a leader killed mid-operation is
//! replaced and its journal settled; a paused leader that lost its lease
//! writes nothing once it runs again, and stops.

use std::time::{Duration, Instant};

use crate::etcd_cluster::EtcdCluster;
use crate::harness::{Options, Server};

const R3: &str = r#"{"size":10,"durability":{"type":"replicate","replicate":{"replica":3}}}"#;

fn replicas(faults: &str) -> (Server, Server) {
    let a = Server::with(Options {
        etcd: true,
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), faults.into())],
        ..Options::default()
    });
    assert!(a.wait_leading(Duration::from_secs(10)), "the first replica leads");
    let b = a.replica();
    assert_eq!(b.readiness(), (200, format!("follower of {}\n", a.base)));
    (a, b)
}

#[test]
fn a_follower_forwards_and_a_killed_leaders_operations_are_settled_by_the_next() {
    // The second create's first brick takes 4 s: it is in flight when the
    // leader is killed.
    let (mut a, b) = replicas("brick_create:4:delay:4000");
    // Everything through the follower, as a Service over both would send it.
    b.topology(3, 2);
    let kept = b.create_volume(R3);
    let accepted = b.post("/volumes", R3);
    assert_eq!(accepted.status, 202, "{accepted:?}");
    a.wait_for_fault("brick_create", 1);
    a.kill9();

    assert!(b.wait_leading(Duration::from_secs(20)), "the follower takes over");
    // The queue id the old leader handed out still answers, finally.
    let outcome = b.wait(&accepted.location());
    assert!(matches!(outcome.status, 303 | 500), "{outcome:?}");
    // The acknowledged volume is still there, and nothing is half-done,
    // in the store or on the (mock) nodes.
    let id = kept["id"].as_str().unwrap_or_default();
    assert_eq!(b.get(&format!("/volumes/{id}")).status, 200);
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
    let a = Server::with(Options {
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
    // Service resumes, with everything acknowledged still there.
    let deadline = Instant::now() + Duration::from_secs(40);
    while b.get("/clusters").status != 200 {
        assert!(Instant::now() < deadline, "service did not resume once etcd returned");
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = kept["id"].as_str().unwrap_or_default();
    assert_eq!(b.get(&format!("/volumes/{id}")).status, 200);
    b.assert_consistent();
}
