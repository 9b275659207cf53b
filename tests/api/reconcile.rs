//! `GET /internal/state/reconcile` and `brickyard db reconcile`: each drift
//! between the store and the nodes with its kind, node, object and
//! evidence, and what `--apply` would do with it or why it is left.

use std::process::Command;

use serde_json::{json, Value};

use crate::harness::{token, Options, Server, ADMIN_KEY, USER_KEY};

const PATH: &str = "/internal/state/reconcile";
const R3: &str = r#"{"size":1,"durability":{"type":"replicate","replicate":{"replica":3}}}"#;

/// Pool names as Brickyard makes them, of bricks the store never had.
const LEAKED: &str = "0123456789abcdef0123456789abcdef";
const STRAY: &str = "fedcba9876543210fedcba9876543210";

/// Each finding as (kind, node, object, what --apply does or why not).
fn findings(report: &Value) -> Vec<(String, String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let apply = f["apply"].as_str().unwrap();
            let action = match f.get("reason") {
                Some(reason) => format!("{apply}: {}", reason.as_str().unwrap()),
                None => apply.to_string(),
            };
            let text = |k: &str| f[k].as_str().unwrap().to_string();
            (text("kind"), text("node"), text("object"), action)
        })
        .collect()
}

/// The report's finding whose `key` is `value`.
fn finding_with<'a>(report: &'a Value, key: &str, value: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f[key] == value)
        .unwrap_or_else(|| panic!("no finding with {key} {value} in {report}"))
}

fn entry(kind: &str, node: &str, object: &str, action: &str) -> (String, String, String, String) {
    (kind.into(), node.into(), object.into(), action.into())
}

/// The mock host holding `vg`.
fn host_with(nodes: &Value, vg: &str) -> String {
    nodes["hosts"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, h)| h["vgs"].get(vg).is_some())
        .map(|(name, _)| name.clone())
        .unwrap()
}

/// `brickyard db reconcile [args]` against `s`, as the admin when auth is on.
fn reconcile_cli(s: &Server, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_brickyard"))
        .args(["db", "reconcile"])
        .args(args)
        .env("HEKETI_CLI_SERVER", &s.base)
        .env("HEKETI_CLI_USER", "admin")
        .env("HEKETI_CLI_KEY", ADMIN_KEY)
        .env("BRICKYARD_CLI_POLL_MS", "20")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// What `break_nodes` did, one brick per node.
struct Broken {
    /// Each brick's node.
    hosts: Vec<String>,
    /// Each brick's id and device.
    bricks: Vec<(String, String)>,
    /// Brick 0's volume group before it grew, and its extent size.
    extents: u64,
    extent_size: u64,
    /// Brick 0's fstab line, removed.
    fstab_line: String,
}

impl Broken {
    fn vg(&self, i: usize) -> String {
        format!("vg_{}", self.bricks[i].1)
    }

    fn mount(&self, i: usize) -> String {
        format!("/var/lib/heketi/mounts/{}/brick_{}", self.vg(i), self.bricks[i].0)
    }
}

/// Drift made by hand on the stopped "nodes" of a replica 3 volume:
/// brick 0's node lost its fstab line (still mounted) and holds a leaked
/// thin pool with nothing in it, a thin LV with its pool no brick owns,
/// and a volume group grown by 25 extents behind the store's back; brick
/// 1 is neither mounted nor in fstab; brick 2's LV is gone; gluster has a
/// volume made by hand.
fn break_nodes(s: &mut Server, volume: &Value) -> Broken {
    let bricks: Vec<(String, String)> = volume["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["id"].as_str().unwrap().into(), b["device"].as_str().unwrap().into()))
        .collect();
    let mut broken = Broken {
        hosts: Vec::new(),
        bricks,
        extents: 0,
        extent_size: 0,
        fstab_line: String::new(),
    };
    let (vg, mount) = (|i| broken.vg(i), |i| broken.mount(i));
    s.kill9();
    let mut nodes = s.mock_nodes();
    let hosts: Vec<String> = (0..3).map(|i| host_with(&nodes, &vg(i))).collect();
    let host = &mut nodes["hosts"][&hosts[0]];
    let fstab = host["fstab"].as_array_mut().unwrap();
    let at = fstab
        .iter()
        .position(|l| l.as_str().unwrap().contains(&mount(0)))
        .unwrap();
    let fstab_line = fstab.remove(at).as_str().unwrap().to_string();
    host["lvs"][format!("{}/tp_{LEAKED}", vg(0))] = json!({"pool": null, "extents": 1, "size_kib": 4096});
    host["lvs"][format!("{}/tp_{STRAY}", vg(0))] = json!({"pool": null, "extents": 1, "size_kib": 4096});
    host["lvs"][format!("{}/brick_{STRAY}", vg(0))] =
        json!({"pool": format!("tp_{STRAY}"), "extents": 0, "size_kib": 4096});
    let group = &mut host["vgs"][vg(0)];
    let (extents, extent_size) = (
        group["extents"].as_u64().unwrap(),
        group["extent_size"].as_u64().unwrap(),
    );
    group["extents"] = json!(extents + 25);
    let host = &mut nodes["hosts"][&hosts[1]];
    host["mounts"].as_object_mut().unwrap().remove(&mount(1));
    host["fstab"]
        .as_array_mut()
        .unwrap()
        .retain(|l| !l.as_str().unwrap().contains(&mount(1)));
    nodes["hosts"][&hosts[2]]["lvs"]
        .as_object_mut()
        .unwrap()
        .remove(&format!("{}/brick_{}", vg(2), broken.bricks[2].0));
    nodes["volumes"]["made_by_hand"] =
        json!({"id": "1", "layout": "Distribute", "bricks": [], "options": [], "started": true});
    s.set_mock_nodes(&nodes);
    s.restart();
    broken.hosts = hosts;
    (broken.extents, broken.extent_size, broken.fstab_line) = (extents, extent_size, fstab_line);
    broken
}

#[test]
fn the_reconciler_reports_each_drift_and_what_apply_would_do() {
    let mut s = Server::start();
    let (cluster, _) = s.topology(3, 1);
    let volume = s.create_volume(R3);

    let clean = s.get(PATH).json();
    assert_eq!(clean["findings"], json!([]), "{clean}");
    assert_eq!(clean["checked"].as_array().unwrap().len(), 3);
    assert_eq!(clean["unreachable"], json!([]));
    assert_eq!(reconcile_cli(&s, &[]).lines().last(), Some("No drift found"));

    let broken = break_nodes(&mut s, &volume);
    let Broken {
        hosts,
        bricks,
        extents,
        extent_size,
        ..
    } = &broken;
    let (vg, mount) = (|i| broken.vg(i), |i| broken.mount(i));

    let reply = s.get(PATH);
    assert_eq!(reply.status, 200);
    let report = reply.json();
    let mut found = findings(&report);
    found.sort();
    // The two safe kinds, and what a mending run leaves.
    let mut expected = vec![
        entry("missing-fstab-line", &hosts[0], &mount(0), "append-fstab-line"),
        entry(
            "orphan-lv",
            &hosts[0],
            &format!("{}/tp_{LEAKED}", vg(0)),
            "remove-thin-pool",
        ),
    ];
    expected.extend(left_after_mending(&broken, &cluster));
    expected.sort();
    assert_eq!(found, expected);
    // The size finding gives both sizes; a brick's finding names the brick.
    let by_kind = |kind: &str| finding_with(&report, "kind", kind).clone();
    let size = by_kind("vg-size-differs")["evidence"].as_str().unwrap().to_string();
    assert!(
        size.contains(&format!("LVM {} KiB", (extents + 25) * extent_size))
            && size.contains(&format!("the store {} KiB", extents * extent_size)),
        "{size}"
    );
    assert!(by_kind("missing-lv")["evidence"]
        .as_str()
        .unwrap()
        .contains(&bricks[2].0));
    // The report changed nothing: asked again, it says the same.
    assert_eq!(s.get(PATH).json(), report);

    // The CLI prints the same report as text, and as JSON with --json.
    let text = reconcile_cli(&s, &[]);
    assert!(text.contains("Drift found: 9\n"), "{text}");
    assert!(
        text.contains(&format!(
            "\norphan-lv on {}: {}/tp_{LEAKED}\n    Evidence: no brick of the store uses it\n    --apply removes the thin pool\n",
            hosts[0],
            vg(0)
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "\nmissing-mount on {}: {}\n    Evidence: brick {} of volume {}\n    left: the brick is not mounted: mount it by hand, or evict the brick\n",
            hosts[1],
            mount(1),
            bricks[1].0,
            volume["id"].as_str().unwrap()
        )),
        "{text}"
    );
    let as_json: Value = serde_json::from_str(&reconcile_cli(&s, &["--json"])).unwrap();
    assert_eq!(as_json, report);
}

#[test]
fn a_node_whose_lvm_cannot_be_read_is_named_and_its_lvs_not_judged() {
    let mut s = Server::start();
    s.topology(3, 1);
    let volume = s.create_volume(R3);
    let vg = format!("vg_{}", volume["bricks"][0]["device"].as_str().unwrap());
    s.kill9();
    let mut nodes = s.mock_nodes();
    let host = host_with(&nodes, &vg);
    nodes["hosts"][&host]["lvs"][format!("{vg}/tp_{LEAKED}")] = json!({"pool": null, "extents": 1, "size_kib": 4096});
    s.set_mock_nodes(&nodes);
    s.restart_with_env(vec![(
        "BRICKYARD_MOCK_FAULTS".into(),
        format!("examine_lvm@{host}:*:fail:lvm: locking failed"),
    )]);
    let report = s.get(PATH).json();
    assert_eq!(
        findings(&report),
        [entry(
            "orphan-lv",
            &host,
            &format!("{vg}/tp_{LEAKED}"),
            "leave: not-read"
        )]
    );
    assert_eq!(
        report["unreachable"],
        json!([{"node": host, "error": "lvm: locking failed"}])
    );
}

#[test]
fn only_administrators_reconcile() {
    let s = Server::with(Options {
        auth: true,
        ..Options::default()
    });
    s.assert_admin_only_get(PATH);
}

/// The findings a mending run leaves of `break_nodes`' drift.
fn left_after_mending(broken: &Broken, cluster: &str) -> Vec<(String, String, String, String)> {
    let (hosts, vg, mount) = (&broken.hosts, |i| broken.vg(i), |i| broken.mount(i));
    let mut left = vec![
        entry(
            "orphan-lv",
            &hosts[0],
            &format!("{}/tp_{STRAY}", vg(0)),
            "leave: pool-in-use",
        ),
        entry(
            "orphan-lv",
            &hosts[0],
            &format!("{}/brick_{STRAY}", vg(0)),
            "leave: may-hold-data",
        ),
        entry("vg-size-differs", &hosts[0], &vg(0), "leave: size-differs"),
        entry("missing-mount", &hosts[1], &mount(1), "leave: not-mounted"),
        entry("missing-fstab-line", &hosts[1], &mount(1), "leave: not-mounted"),
        entry(
            "missing-lv",
            &hosts[2],
            &format!("{}/brick_{}", vg(2), broken.bricks[2].0),
            "leave: brick-lost",
        ),
        entry(
            "unknown-gluster-volume",
            cluster,
            "made_by_hand",
            "leave: may-hold-data",
        ),
    ];
    left.sort();
    left
}

/// A server with a replica 3 volume whose nodes `break_nodes` broke,
/// restarted with these mock fault rules; and its cluster.
fn broken_server(faults: Option<&str>) -> (Server, String, Broken) {
    let mut s = Server::start();
    let (cluster, _) = s.topology(3, 1);
    let volume = s.create_volume(R3);
    let broken = break_nodes(&mut s, &volume);
    if let Some(rules) = faults {
        s.restart_with_env(vec![("BRICKYARD_MOCK_FAULTS".into(), rules.into())]);
    }
    (s, cluster, broken)
}

/// The report lists what a mending run leaves, and nothing else.
fn assert_mended(s: &Server, broken: &Broken, cluster: &str) {
    let mut left = findings(&s.get(PATH).json());
    left.sort();
    assert_eq!(left, left_after_mending(broken, cluster));
}

#[test]
fn apply_mends_only_the_safe_kinds_and_reports_what_it_left() {
    let (s, cluster, broken) = broken_server(None);
    let (host, vg) = (&broken.hosts[0], broken.vg(0));
    let lvs_before = s.mock_nodes()["hosts"][host]["lvs"].clone();

    // Journalled: 202, then a 303 to the report, read afresh.
    let accepted = s.post(PATH, "");
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let done = s.wait(&accepted.location());
    assert_eq!((done.status, done.location()), (303, PATH.to_string()));
    assert_mended(&s, &broken, &cluster);

    // On the node: the fstab line back as it was, the empty pool gone with
    // nothing else, and the commands Brickyard runs for them.
    let nodes = s.mock_nodes();
    let fstab: Vec<&str> = nodes["hosts"][host]["fstab"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(
        fstab.iter().filter(|l| **l == broken.fstab_line).count(),
        1,
        "{fstab:?}"
    );
    let mut lvs = lvs_before.as_object().unwrap().clone();
    lvs.remove(&format!("{vg}/tp_{LEAKED}"));
    assert_eq!(nodes["hosts"][host]["lvs"], Value::Object(lvs));
    let commands = s.mock_commands(host);
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("awk") && c.contains(&broken.mount(0))),
        "{commands:?}"
    );
    assert!(
        commands
            .iter()
            .any(|c| c.contains("lvremove") && c.contains(&format!("tp_{LEAKED}"))),
        "{commands:?}"
    );
    assert!(!commands.iter().any(|c| c.contains(STRAY)), "{commands:?}");
    s.assert_store_consistent();

    // A second run finds nothing more to mend and changes nothing.
    let text = reconcile_cli(&s, &["--apply"]);
    assert!(
        text.starts_with("The safe mends were made; what is left:\n") && text.contains("Drift found: 7\n"),
        "{text}"
    );
    assert_eq!(s.mock_nodes(), nodes);
}

#[test]
fn a_failed_mend_answers_its_error_and_a_later_run_finishes() {
    let (s, cluster, broken) = broken_server(Some("brick_fstab_append:1:fail:fstab is read-only"));
    let accepted = s.post(PATH, "");
    assert_eq!(accepted.status, 202);
    let failed = s.wait(&accepted.location());
    assert_eq!(failed.status, 500);
    assert!(failed.body.contains("fstab is read-only"), "{}", failed.body);
    // Nothing after the failed mend ran: the empty pool is still there.
    let pool = format!("{}/tp_{LEAKED}", broken.vg(0));
    assert!(s.mock_nodes()["hosts"][&broken.hosts[0]]["lvs"].get(&pool).is_some());
    // The next run mends what the first could not.
    assert_eq!(s.finish(s.post(PATH, "")).status, 303);
    assert_mended(&s, &broken, &cluster);
}

#[test]
fn only_administrators_mend_and_read_only_mode_refuses() {
    let s = Server::with(Options {
        auth: true,
        ..Options::default()
    });
    let bearer = format!("bearer {}", token("user", USER_KEY, "POST", PATH));
    let user = s.anonymous("POST", PATH, None, &[("Authorization", &bearer)]);
    assert_eq!(
        (user.status, user.body.as_str()),
        (401, "Administrator access required\n")
    );
    assert_eq!(s.finish(s.post(PATH, "")).status, 303);
    // Read-only mode refuses it as it refuses any change.
    assert_eq!(s.post("/admin", r#"{"state":"read-only"}"#).status, 204);
    let (refused, change) = (s.post(PATH, ""), s.post("/clusters", "{}"));
    assert_eq!((refused.status, &refused.body), (change.status, &change.body));
    assert_ne!(refused.status, 202);
}

#[test]
fn a_mending_run_killed_midway_goes_forward_at_restart() {
    // The fstab line is appended, then the answer stalls: killed there.
    let (mut s, cluster, broken) = broken_server(Some("brick_fstab_append:1:stall:5000"));
    let accepted = s.post(PATH, "");
    assert_eq!(accepted.status, 202);
    s.wait_for_fault("brick_fstab_append", 1);
    assert_eq!(s.get(&accepted.location()).header("x-pending"), Some("true"));
    s.kill9();
    s.restart_with_env(vec![]);
    let done = s.wait(&accepted.location());
    assert_eq!((done.status, done.location()), (303, PATH.to_string()));
    assert_mended(&s, &broken, &cluster);
    // Appended once, though the run was made twice.
    let fstab = &s.mock_nodes()["hosts"][&broken.hosts[0]]["fstab"];
    let copies = fstab
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| **l == broken.fstab_line)
        .count();
    assert_eq!(copies, 1, "{fstab}");
    s.assert_store_consistent();
}

#[test]
fn force_also_removes_an_orphan_brick_and_nothing_else() {
    let (s, cluster, broken) = broken_server(None);
    let (host, vg) = (&broken.hosts[0], broken.vg(0));
    let stray = format!("{vg}/brick_{STRAY}");
    let stray_pool = format!("{vg}/tp_{STRAY}");

    // The report says what a forced run would do; without force, as before.
    let forced = s.get(&format!("{PATH}?force=true")).json();
    let mut expected = findings(&s.get(PATH).json());
    for row in expected.iter_mut() {
        if row.2 == stray {
            row.3 = "remove-orphan-brick".into();
        }
    }
    assert_eq!(findings(&forced), expected);
    let brick = finding_with(&forced, "object", &stray);
    assert_eq!(brick["pool"], format!("tp_{STRAY}"), "{brick}");
    let refused = s.get(&format!("{PATH}?force=maybe"));
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(refused.body.contains("force"), "{}", refused.body);

    // Journalled like the safe mends: 202, then a 303 to the report.
    let done = s.finish(s.post(&format!("{PATH}?force=true"), ""));
    assert_eq!((done.status, done.location()), (303, PATH.to_string()));
    let mut left = left_after_mending(&broken, &cluster);
    left.retain(|row| row.2 != stray && row.2 != stray_pool);
    let mut found = findings(&s.get(PATH).json());
    found.sort();
    assert_eq!(found, left);

    // The thin LV and its pool are gone; the gluster volume made by hand,
    // which may hold data too, is not.
    let nodes = s.mock_nodes();
    let lvs = &nodes["hosts"][host]["lvs"];
    assert!(lvs.get(&stray).is_none() && lvs.get(&stray_pool).is_none(), "{lvs}");
    assert!(nodes["volumes"].get("made_by_hand").is_some());
    let commands = s.mock_commands(host);
    assert!(
        commands
            .iter()
            .any(|c| c.contains("lvremove") && c.ends_with(&format!("brick_{STRAY}"))),
        "{commands:?}"
    );
    s.assert_store_consistent();

    // The CLI's --apply --force says so, and finds nothing more to remove.
    let text = reconcile_cli(&s, &["--apply", "--force"]);
    assert!(
        text.starts_with("The safe mends and the forced removals were made; what is left:\n"),
        "{text}"
    );
    assert_eq!(s.mock_nodes(), nodes);
}

#[test]
fn a_lost_brick_directory_and_a_node_out_of_the_pool_are_left_with_reasons() {
    let mut s = Server::start();
    let (cluster, _) = s.topology(3, 1);
    let volume = s.create_volume(R3);
    let brick = &volume["bricks"][0];
    let (id, device) = (brick["id"].as_str().unwrap(), brick["device"].as_str().unwrap());
    let vg = format!("vg_{device}");
    let mount = format!("/var/lib/heketi/mounts/{vg}/brick_{id}");
    s.kill9();
    let mut nodes = s.mock_nodes();
    let host = host_with(&nodes, &vg);
    nodes["hosts"][&host]["lost_brick_dirs"] = json!([mount]);
    // Node 3 detached behind the store's back: no node lists it.
    for h in nodes["hosts"].as_object_mut().unwrap().values_mut() {
        h["peers"].as_array_mut().unwrap().retain(|p| p != "10.0.0.3");
    }
    s.set_mock_nodes(&nodes);
    s.restart();

    let report = s.get(PATH).json();
    let mut expected = vec![
        entry(
            "missing-brick-dir",
            &host,
            &format!("{mount}/brick"),
            "leave: brick-dir-lost",
        ),
        entry("missing-peer", &cluster, "10.0.0.3", "leave: not-in-pool"),
    ];
    expected.sort();
    let mut found = findings(&report);
    found.sort();
    assert_eq!(found, expected, "{report}");
    let peer = finding_with(&report, "kind", "missing-peer");
    assert!(
        peer["evidence"].as_str().unwrap().contains("of the store; node"),
        "{peer}"
    );
    // The nodes check finds them too.
    let check = s.get("/db/check?nodes=true").json();
    assert_eq!(check["drift"]["findings"].as_array().unwrap().len(), 2, "{check}");

    // Neither is mended, even with force: the node state stays as it was.
    let before = s.mock_nodes();
    assert_eq!(s.finish(s.post(&format!("{PATH}?force=true"), "")).status, 303);
    let mut left = findings(&s.get(PATH).json());
    left.sort();
    assert_eq!(left, expected);
    let after = s.mock_nodes();
    assert_eq!(after["hosts"][&host]["lvs"], before["hosts"][&host]["lvs"]);
    assert_eq!(after["hosts"][&host]["fstab"], before["hosts"][&host]["fstab"]);
}

#[test]
fn the_cli_forces_through_authentication() {
    let s = Server::with(Options {
        auth: true,
        ..Options::default()
    });
    // The token signs the path alone: the query does not make it invalid.
    for args in [&["--force"][..], &["--apply", "--force"]] {
        let printed = reconcile_cli(&s, args);
        assert!(printed.ends_with("No drift found\n"), "{args:?}: {printed}");
    }
}
