//! `GET /internal/state/reconcile` and `brickyard db reconcile`: each drift
//! between the store and the nodes with its kind, node, object and
//! evidence, and what `--apply` would do with it or why it is left.

use std::process::Command;

use serde_json::{json, Value};

use crate::harness::{Options, Server};

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

/// `brickyard db reconcile [args]` against `s` (auth off).
fn reconcile_cli(s: &Server, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_brickyard"))
        .args(["db", "reconcile"])
        .args(args)
        .env("HEKETI_CLI_SERVER", &s.base)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
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

    // Drift made by hand on the stopped "nodes", one brick per node.
    let bricks: Vec<(String, String)> = volume["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["id"].as_str().unwrap().into(), b["device"].as_str().unwrap().into()))
        .collect();
    let vg = |i: usize| format!("vg_{}", bricks[i].1);
    let mount = |i: usize| format!("/var/lib/heketi/mounts/{}/brick_{}", vg(i), bricks[i].0);
    s.kill9();
    let mut nodes = s.mock_nodes();
    let hosts: Vec<String> = (0..3).map(|i| host_with(&nodes, &vg(i))).collect();
    // Brick 0's node: its fstab line lost (still mounted); a leaked thin
    // pool with nothing in it; a thin LV with its pool no brick owns; the
    // volume group grown by 25 extents behind the store's back.
    let host = &mut nodes["hosts"][&hosts[0]];
    host["fstab"]
        .as_array_mut()
        .unwrap()
        .retain(|l| !l.as_str().unwrap().contains(&mount(0)));
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
    // Brick 1's node: neither mounted nor in fstab.
    let host = &mut nodes["hosts"][&hosts[1]];
    host["mounts"].as_object_mut().unwrap().remove(&mount(1));
    host["fstab"]
        .as_array_mut()
        .unwrap()
        .retain(|l| !l.as_str().unwrap().contains(&mount(1)));
    // Brick 2's node: its LV gone.
    nodes["hosts"][&hosts[2]]["lvs"]
        .as_object_mut()
        .unwrap()
        .remove(&format!("{}/brick_{}", vg(2), bricks[2].0));
    nodes["volumes"]["made_by_hand"] =
        json!({"id": "1", "layout": "Distribute", "bricks": [], "options": [], "started": true});
    s.set_mock_nodes(&nodes);
    s.restart();

    let reply = s.get(PATH);
    assert_eq!(reply.status, 200);
    let report = reply.json();
    let mut found = findings(&report);
    found.sort();
    let mut expected = vec![
        entry("missing-fstab-line", &hosts[0], &mount(0), "append-fstab-line"),
        entry(
            "orphan-lv",
            &hosts[0],
            &format!("{}/tp_{LEAKED}", vg(0)),
            "remove-thin-pool",
        ),
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
            &format!("{}/brick_{}", vg(2), bricks[2].0),
            "leave: brick-lost",
        ),
        entry(
            "unknown-gluster-volume",
            &cluster,
            "made_by_hand",
            "leave: may-hold-data",
        ),
    ];
    expected.sort();
    assert_eq!(found, expected);
    // The size finding gives both sizes; a brick's finding names the brick.
    let by_kind = |kind: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == kind)
            .unwrap()
            .clone()
    };
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
