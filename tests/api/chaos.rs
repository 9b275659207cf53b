//! A randomised crash test, as a user's cluster would suffer it: clients
//! create, expand, clone and delete volumes at once, the server is killed
//! with SIGKILL at a random moment (with the mock's delays and, in half the
//! cycles, injected failures and lost answers), restarted, and then every
//! invariant is checked against the store and the mock's node state:
//!
//! * no answer is lost: every queue id a client was given answers, with a
//!   final answer once recovery settled, and an answer already given is
//!   given again unchanged;
//! * acknowledged results are kept and failures took no effect: the volumes
//!   on the server are exactly those whose create or clone answered 303 and
//!   whose delete did not answer 204, each at the size its answered
//!   expansions give;
//! * gluster's volumes and bricks match the store's;
//! * every brick has its LV, thin pool and mount (and fstab line unless
//!   glusterd mounted it) on its node, and nothing on a node belongs to no
//!   brick;
//! * `used + free == total` (`/db/check`) and `used` equals the thin pools
//!   the device's volume group holds;
//! * every journal entry settles.
//!
//! After the last cycle everything is deleted and every device must be
//! empty. `BRICKYARD_CHAOS_CYCLES` sets the number of kill cycles (CI runs
//! a short form), `BRICKYARD_CHAOS_CLIENTS` the clients, and
//! `BRICKYARD_CHAOS_SEED` replays a run; the seed is printed first.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::blocking::Client;
use serde_json::json;

use crate::harness::{Options, Server};

/// What a client asked for.
#[derive(Clone, Debug)]
enum Request {
    Create {
        size: u64,
    },
    Expand {
        volume: String,
        by: u64,
    },
    Clone {
        volume: String,
    },
    Delete {
        volume: String,
    },
    /// Not sent: after a cycle's check, what requests in doubt did is taken
    /// as seen (a volume made, a size reached), so the doubt does not grow.
    Seen {
        volume: String,
        size: Option<u64>,
    },
    /// Not sent: a volume a delete in doubt removed.
    Gone {
        volume: String,
    },
}

/// A final queue answer: status and location.
type Answer = (u16, Option<String>);

/// One accepted request and what is known of its outcome.
#[derive(Clone, Debug)]
struct Accepted {
    request: Request,
    queue: String,
    answer: Option<Answer>,
}

#[derive(Default)]
struct Log {
    accepted: Vec<Accepted>,
    /// Requests sent while the server died: whether they were accepted is
    /// unknowable (their 202, and with it the queue id, never arrived), so
    /// they may or may not have taken effect.
    in_doubt: Vec<Request>,
    /// Volumes known to exist, for clients to pick targets from.
    known: BTreeSet<String>,
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A request that may fail because the server was killed.
fn send(http: &Client, method: &str, url: &str, body: Option<String>) -> Option<(u16, Option<String>, bool)> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = http.request(method, url);
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = req.send().ok()?;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let pending = resp.headers().contains_key("x-pending");
    Some((status, location, pending))
}

/// Polls a queue id until its final answer; `None` when the server went away.
fn poll(http: &Client, base: &str, queue: &str, stop: &AtomicBool) -> Option<Answer> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let (status, location, pending) = send(http, "GET", &format!("{base}{queue}"), None)?;
        if !pending {
            return Some((status, location));
        }
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{queue} still pending after 60 s");
}

/// One client: random requests until the server goes away or `stop`.
fn run_client(base: String, log: Arc<Mutex<Log>>, stop: Arc<AtomicBool>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let http = client();
    while !stop.load(Ordering::Relaxed) {
        let known: Vec<String> = log.lock().unwrap().known.iter().cloned().collect();
        let pick = |rng: &mut StdRng| known[rng.gen_range(0..known.len())].clone();
        let request = match rng.gen_range(0..10) {
            _ if known.len() < 2 => Request::Create {
                size: rng.gen_range(1..=3),
            },
            0..=3 if known.len() < 24 => Request::Create {
                size: rng.gen_range(1..=3),
            },
            0..=4 => Request::Expand {
                volume: pick(&mut rng),
                by: rng.gen_range(1..=2),
            },
            5..=6 => Request::Clone { volume: pick(&mut rng) },
            _ => Request::Delete { volume: pick(&mut rng) },
        };
        let (method, path, body) = match &request {
            Request::Create { size } => {
                let durability = if rng.gen_bool(0.7) {
                    json!({"type": "replicate", "replicate": {"replica": 3}})
                } else {
                    json!({"type": "none"})
                };
                let body = json!({"size": size, "durability": durability}).to_string();
                ("POST", "/volumes".to_string(), Some(body))
            }
            Request::Expand { volume, by } => (
                "POST",
                format!("/volumes/{volume}/expand"),
                Some(json!({"expand_size": by}).to_string()),
            ),
            Request::Clone { volume } => ("POST", format!("/volumes/{volume}/clone"), Some("{}".into())),
            Request::Delete { volume } => ("DELETE", format!("/volumes/{volume}"), None),
            Request::Seen { .. } | Request::Gone { .. } => unreachable!("never sent"),
        };
        let Some((status, location, _)) = send(&http, method, &format!("{base}{path}"), body) else {
            log.lock().unwrap().in_doubt.push(request);
            return;
        };
        // Refused at once (busy volume, gone, no space, throttled): no effect.
        if status != 202 {
            continue;
        }
        let queue = location.expect("a 202 names its queue entry");
        let index = {
            let mut log = log.lock().unwrap();
            if let Request::Delete { volume } = &request {
                log.known.remove(volume);
            }
            log.accepted.push(Accepted {
                request: request.clone(),
                queue: queue.clone(),
                answer: None,
            });
            log.accepted.len() - 1
        };
        let Some(answer) = poll(&http, &base, &queue, &stop) else {
            return;
        };
        let mut log = log.lock().unwrap();
        if answer.0 == 303 {
            if let Some(id) = answer.1.as_deref().and_then(|l| l.strip_prefix("/volumes/")) {
                log.known.insert(id.to_string());
            }
        }
        log.accepted[index].answer = Some(answer);
    }
}

/// Mock faults for one run of the server: delays everywhere (so kills land
/// inside operations), and in `faulty` runs failures and lost answers.
fn faults(rng: &mut StdRng, faulty: bool) -> String {
    let mut rules: Vec<String> = [
        "brick_create",
        "volume_create",
        "volume_expand",
        "volume_clone",
        "volume_destroy",
        "brick_destroy",
    ]
    .iter()
    .map(|op| format!("{op}:*:delay:{}", rng.gen_range(5..40)))
    .collect();
    rules.push(format!(
        "volume_expand:{}:stall:{}",
        rng.gen_range(1..4),
        rng.gen_range(50..400)
    ));
    rules.push(format!(
        "volume_clone:{}:stall:{}",
        rng.gen_range(1..4),
        rng.gen_range(50..400)
    ));
    if faulty {
        let menu = [
            "brick_create:{}:fail:  Insufficient free space: 2573 extents needed",
            "volume_create:{}:fail:volume create: failed: Host 10.0.0.9 is not in 'Peer in Cluster' state",
            "volume_expand:{}:fail:volume add-brick: failed: Commit failed on 10.0.0.2",
            "volume_expand:{}:lose",
            "volume_clone:{}:lose",
            "volume_clone:{}:fail:snapshot create: failed: Pre Validation failed",
            "volume_destroy:{}:lose",
            "brick_destroy:{}:lose",
            "brick_create:{}:lose",
            "brick_destroy:{}:fail:umount: target is busy",
            "volume_destroy:{}:fail:volume stop: failed: Another transaction is in progress",
            "volume_info:{}:fail:Connection failed. Please check if gluster daemon is operational.",
        ];
        for _ in 0..rng.gen_range(1..=3) {
            let rule = menu[rng.gen_range(0..menu.len())];
            rules.push(rule.replacen("{}", &rng.gen_range(1..6).to_string(), 1));
        }
    }
    rules.join(",")
}

/// Brings every journal entry to its end: start-up recovery, then cleanups.
fn settle(s: &Server, violations: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ops = s.get("/operations").json();
        if ops["total"] == 0 {
            return;
        }
        if Instant::now() > deadline {
            violations.push(format!("journal entries never settled: {ops}"));
            return;
        }
        if ops["in_flight"] == 0 && ops["failed"].as_u64().unwrap_or(0) + ops["stale"].as_u64().unwrap_or(0) > 0 {
            let done = s.finish(s.post("/operations/pending/cleanup", "{}"));
            if done.status != 204 {
                violations.push(format!("cleanup answered {}: {}", done.status, done.body));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every accepted request has a final answer, and answers given before are
/// given again unchanged.
fn check_answers(s: &Server, log: &mut Log, violations: &mut Vec<String>) {
    let http = client();
    let never = AtomicBool::new(false);
    for a in log.accepted.iter_mut().filter(|a| !a.queue.is_empty()) {
        match poll(&http, &s.base, &a.queue, &never) {
            None => violations.push(format!("{} unreachable", a.queue)),
            Some((404, _)) => violations.push(format!("answer lost: {} for {:?}", a.queue, a.request)),
            Some(again) => match &a.answer {
                Some(first) if *first != again => {
                    violations.push(format!("answer changed for {:?}: {first:?}, then {again:?}", a.request));
                }
                Some(_) => {}
                None => a.answer = Some(again),
            },
        }
    }
}

/// The volumes and sizes the answers imply: `None` for a size when it is
/// not known (a clone takes its source's size at the time).
fn expected_volumes(log: &Log, sizes: &mut BTreeMap<String, Option<u64>>) {
    sizes.clear();
    for a in &log.accepted {
        let Some((status, location)) = &a.answer else {
            continue;
        };
        let made = location.as_deref().and_then(|l| l.strip_prefix("/volumes/"));
        match (&a.request, status) {
            (Request::Create { size }, 303) => {
                if let Some(id) = made {
                    sizes.insert(id.to_string(), Some(*size));
                }
            }
            (Request::Clone { .. }, 303) => {
                if let Some(id) = made {
                    sizes.insert(id.to_string(), None);
                }
            }
            (Request::Expand { volume, by }, 303) => {
                if let Some(Some(size)) = sizes.get_mut(volume) {
                    *size += by;
                }
            }
            (Request::Delete { volume }, 204) | (Request::Gone { volume }, _) => {
                sizes.remove(volume);
            }
            (Request::Seen { volume, size }, _) => {
                sizes.insert(volume.clone(), *size);
            }
            _ => {}
        }
    }
}

fn check_volumes(s: &Server, log: &Log, violations: &mut Vec<String>) {
    let mut expected = BTreeMap::new();
    expected_volumes(log, &mut expected);
    let listed: BTreeSet<String> = s.get("/volumes").json()["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let wanted: BTreeSet<String> = expected.keys().cloned().collect();
    let doubted = |volume: &str| {
        log.in_doubt
            .iter()
            .any(|r| matches!(r, Request::Delete { volume: v } if v == volume))
    };
    for id in wanted.difference(&listed).filter(|id| !doubted(id)) {
        let dump = s.get("/db/dump").json();
        violations.push(format!(
            "acknowledged volume {id} is gone (GET answers {}; stored as {})",
            s.get(&format!("/volumes/{id}")).status,
            dump["volumeentries"][id]
        ));
    }
    // A volume no answer explains needs a create or clone whose answer
    // never came, one each.
    let made_in_doubt = log
        .in_doubt
        .iter()
        .filter(|r| matches!(r, Request::Create { .. } | Request::Clone { .. }))
        .count();
    let unexplained: Vec<&String> = listed.difference(&wanted).collect();
    if unexplained.len() > made_in_doubt {
        violations.push(format!(
            "volumes {unexplained:?} exist, but no answer said they were made ({made_in_doubt} creates in doubt)"
        ));
    }
    for (id, size) in &expected {
        let Some(size) = size else { continue };
        let info = s.get(&format!("/volumes/{id}"));
        if info.status != 200 {
            continue;
        }
        let doubt: u64 = log
            .in_doubt
            .iter()
            .filter_map(|r| match r {
                Request::Expand { volume, by } if volume == id => Some(*by),
                _ => None,
            })
            .sum();
        let have = info.json()["size"].as_u64().unwrap_or_default();
        if have < *size || have > size + doubt {
            violations.push(format!(
                "volume {id} is {have} GiB; its answered requests make it {size} (+ up to {doubt} in doubt)"
            ));
        }
    }
}

/// The store (`/db/dump`) against the mock's node state.
fn check_nodes(s: &Server, violations: &mut Vec<String>) {
    let dump = s.get("/db/dump").json();
    let nodes = s.mock_nodes();
    let hosts = nodes["hosts"].as_object().expect("mock hosts");
    let node_hosts: BTreeMap<String, (String, String)> = dump["nodeentries"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, n)| {
            let h = &n["Info"]["hostnames"];
            (
                id.clone(),
                (
                    h["manage"][0].as_str().unwrap().to_string(),
                    h["storage"][0].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    let bricks = dump["brickentries"].as_object().unwrap();
    // What every brick should have on its node.
    let mut want_lvs: BTreeSet<String> = BTreeSet::new();
    let mut want_mounts: BTreeSet<String> = BTreeSet::new();
    let mut want_fstab: BTreeSet<String> = BTreeSet::new();
    let mut gluster_names: BTreeMap<String, String> = BTreeMap::new();
    for (id, b) in bricks {
        let info = &b["Info"];
        let (manage, storage) = &node_hosts[info["node"].as_str().unwrap()];
        let vg = format!("vg_{}", info["device"].as_str().unwrap());
        let path = info["path"].as_str().unwrap();
        want_lvs.insert(format!("{manage} {vg}/{}", b["LvmLv"].as_str().unwrap()));
        want_lvs.insert(format!("{manage} {vg}/{}", b["LvmThinPool"].as_str().unwrap()));
        want_mounts.insert(format!("{manage} {}", path.trim_end_matches("/brick")));
        if !path.starts_with("/run/gluster/") {
            want_fstab.insert(format!("{manage} brick_{id}"));
        }
        gluster_names.insert(id.clone(), format!("{storage}:{path}"));
    }
    let mut have_lvs = BTreeSet::new();
    let mut have_mounts = BTreeSet::new();
    let mut have_fstab = BTreeSet::new();
    for (host, h) in hosts {
        for lv in h["lvs"].as_object().unwrap().keys() {
            have_lvs.insert(format!("{host} {lv}"));
        }
        for m in h["mounts"].as_object().unwrap().keys() {
            have_mounts.insert(format!("{host} {m}"));
        }
        for line in h["fstab"].as_array().unwrap() {
            let line = line.as_str().unwrap();
            let brick = line
                .split_whitespace()
                .nth(1)
                .and_then(|m| m.rsplit('/').next())
                .unwrap_or(line);
            have_fstab.insert(format!("{host} {brick}"));
        }
    }
    for (what, want, have) in [
        ("LV", &want_lvs, &have_lvs),
        ("mount", &want_mounts, &have_mounts),
        ("fstab line", &want_fstab, &have_fstab),
    ] {
        for missing in want.difference(have) {
            violations.push(format!("{what} missing on its node: {missing}"));
        }
        for orphan in have.difference(want) {
            violations.push(format!("{what} on a node belongs to no brick: {orphan}"));
        }
    }
    // Gluster's volumes against the store's.
    let gluster = nodes["volumes"].as_object().unwrap();
    let mut store_volumes = BTreeMap::new();
    for v in dump["volumeentries"].as_object().unwrap().values() {
        let names: Vec<String> = v["Bricks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| gluster_names.get(b.as_str().unwrap()).cloned().unwrap_or_default())
            .collect();
        store_volumes.insert(v["Info"]["name"].as_str().unwrap().to_string(), names);
    }
    for (name, want) in &store_volumes {
        match gluster.get(name) {
            None => violations.push(format!("gluster has no volume {name}")),
            Some(g) => {
                let mut have: Vec<String> = g["bricks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b.as_str().unwrap().to_string())
                    .collect();
                let mut want = want.clone();
                have.sort();
                want.sort();
                if have != want {
                    violations.push(format!("gluster volume {name} has bricks {have:?}, the store {want:?}"));
                }
            }
        }
    }
    for name in gluster.keys().filter(|n| !store_volumes.contains_key(*n)) {
        violations.push(format!("gluster volume {name} is unknown to the store"));
    }
    // Space: what each device's volume group holds is what the store says is used.
    for d in dump["deviceentries"].as_object().unwrap().values() {
        let info = &d["Info"];
        let used = info["storage"]["used"].as_u64().unwrap();
        let vg = format!("vg_{}", info["id"].as_str().unwrap());
        let held: u64 = hosts
            .values()
            .filter_map(|h| h["vgs"].get(&vg))
            .map(|g| g["allocated_extents"].as_u64().unwrap() * g["extent_size"].as_u64().unwrap())
            .sum();
        if held != used {
            violations.push(format!(
                "device {vg}: the store says {used} KiB used, the node holds {held} KiB"
            ));
        }
    }
}

/// Takes what the requests in doubt did as seen, once a check has found it
/// within what they allow: later cycles judge against it exactly.
fn resolve_doubt(s: &Server, log: &mut Log) {
    let mut expected = BTreeMap::new();
    expected_volumes(log, &mut expected);
    let mut seen = Vec::new();
    for id in s.get("/volumes").json()["volumes"].as_array().unwrap() {
        let id = id.as_str().unwrap().to_string();
        let size = s.get(&format!("/volumes/{id}")).json()["size"].as_u64();
        match expected.remove(&id) {
            Some(Some(want)) if size == Some(want) => {}
            // Made by a request in doubt, a clone (size unknown till now), or
            // grown by an expansion in doubt: as seen from now on.
            _ => seen.push(Request::Seen { volume: id, size }),
        }
    }
    let gone = expected.into_keys().map(|volume| Request::Gone { volume });
    for request in seen.into_iter().chain(gone) {
        log.accepted.push(Accepted {
            request,
            queue: String::new(),
            answer: Some((0, None)),
        });
    }
    log.in_doubt.clear();
}

fn check(s: &Server, log: &mut Log, violations: &mut Vec<String>) {
    settle(s, violations);
    check_answers(s, log, violations);
    settle(s, violations);
    // The server's own checks, of the store and of the store against the
    // nodes, must agree with this test's.
    let report = s.get("/db/check?nodes=true").json();
    if report["totalinconsistencies"] != 0 {
        violations.push(format!("/db/check?nodes=true: {report}"));
    }
    check_volumes(s, log, violations);
    check_nodes(s, violations);
}

#[test]
fn random_kills_leave_the_store_and_the_nodes_in_agreement() {
    let seed = env_or("BRICKYARD_CHAOS_SEED", rand::random::<u32>() as u64);
    let cycles = env_or("BRICKYARD_CHAOS_CYCLES", 12);
    let clients = env_or("BRICKYARD_CHAOS_CLIENTS", 4);
    println!("chaos: seed {seed}, {cycles} cycles, {clients} clients (BRICKYARD_CHAOS_SEED={seed} replays it)");
    eprintln!("chaos: seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    // The server's log, kept for a failing seed.
    let server_log = std::env::temp_dir().join(format!("brickyard-chaos-{seed}.log"));
    let _ = std::fs::remove_file(&server_log);
    let mut s = Server::with(Options {
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), faults(&mut rng, false))],
        log: Some(("warn,brickyard::ops=info".into(), server_log.clone())),
        ..Options::default()
    });
    s.topology(3, 2);
    let log = Arc::new(Mutex::new(Log::default()));
    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..clients)
            .map(|c| {
                let (base, log, stop) = (s.base.clone(), log.clone(), stop.clone());
                let seed = seed ^ (cycle << 16) ^ c;
                std::thread::spawn(move || run_client(base, log, stop, seed))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.gen_range(100..1500)));
        s.kill9();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().expect("a client panicked");
        }
        // Half the runs fail and lose answers on purpose.
        let faulty = rng.gen_bool(0.5);
        s.restart_with_env(vec![("BRICKYARD_MOCK_FAULTS".into(), faults(&mut rng, faulty))]);
        let mut violations = Vec::new();
        let mut log_now = log.lock().unwrap();
        check(&s, &mut log_now, &mut violations);
        if violations.is_empty() {
            resolve_doubt(&s, &mut log_now);
        }
        // Clients pick their targets among what really exists now.
        log_now.known = s.get("/volumes").json()["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        if !violations.is_empty() {
            for a in &log_now.accepted {
                eprintln!("{:?} {} {:?}", a.request, a.queue, a.answer);
            }
        }
        drop(log_now);
        assert!(
            violations.is_empty(),
            "seed {seed}, cycle {cycle}: {} violation(s) (server log: {}):\n{}",
            violations.len(),
            server_log.display(),
            violations.join("\n")
        );
    }
    // Without faults, everything goes, and every device is empty again.
    s.restart_with_env(vec![]);
    let mut violations = Vec::new();
    settle(&s, &mut violations);
    for id in s.get("/volumes").json()["volumes"].as_array().unwrap().clone() {
        let done = s.finish(s.delete(&format!("/volumes/{}", id.as_str().unwrap())));
        if done.status != 204 {
            violations.push(format!("delete of {id} answered {}: {}", done.status, done.body));
        }
    }
    check_nodes(&s, &mut violations);
    for d in s.devices() {
        if d["storage"]["used"] != 0 || !d["bricks"].as_array().unwrap().is_empty() {
            violations.push(format!("device {} is not empty: {d}", d["id"]));
        }
    }
    s.assert_consistent();
    assert!(
        violations.is_empty(),
        "seed {seed}, final cleanup (server log: {}):\n{}",
        server_log.display(),
        violations.join("\n")
    );
    let _ = std::fs::remove_file(&server_log);
}
