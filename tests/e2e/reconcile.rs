//! The reconciler on real nodes: drift made by hand with the nodes' own
//! tools (a brick's LV removed, a mounted brick's fstab line deleted, a
//! gluster volume created outside Brickyard, an orphan thin pool and an
//! orphan thin LV holding a file, a brick directory moved away) is
//! reported with its kind; `POST
//! /internal/state/reconcile` mends the two safe ones and leaves the rest
//! reported with their reasons, removing nothing that holds data; with
//! `force` it also removes the orphan thin LV named as Brickyard names
//! bricks, and never the gluster volume.

use serde_json::Value;

use super::harness::Server;
use super::testbed::Testbed;
use super::{load_topology, node_of_brick, remove_topology, server, volume_body};

const PATH: &str = "/internal/state/reconcile";
/// Brick ids no brick of the store has: `brick_<hex>` and `tp_<hex>` names.
const KEPT: &str = "e2e0000000000000000000000000000a";
const ROLLED_BACK: &str = "e2e0000000000000000000000000000b";
const OUTSIDE: &str = "e2e_outside";
const OUTSIDE_DIR: &str = "/var/lib/heketi/e2e-outside";

type Row = (String, String, String, String);

/// Each finding as (kind, node, object, what `--apply` does or why not).
fn findings(report: &Value) -> Vec<Row> {
    let mut rows: Vec<Row> = report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings in {report}"))
        .iter()
        .map(|f| {
            let text = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            let action = match f.get("reason") {
                Some(reason) => format!("leave: {}", reason.as_str().unwrap_or_default()),
                None => text("apply"),
            };
            (text("kind"), text("node"), text("object"), action)
        })
        .collect();
    rows.sort();
    rows
}

fn row(kind: &str, node: &str, object: &str, action: &str) -> Row {
    (kind.into(), node.into(), object.into(), action.into())
}

fn report(s: &Server) -> Value {
    let reply = s.get(PATH);
    assert_eq!(reply.status, 200, "{reply:?}");
    let report = reply.json();
    assert_eq!(report["unreachable"], serde_json::json!([]), "{report}");
    report
}

/// A mending run: 202, then a 303 to the report.
fn apply(s: &Server, path: &str) {
    let done = s.finish(s.post(path, ""));
    assert_eq!((done.status, done.location()), (303, PATH.to_string()), "{done:?}");
}

/// The LVs of `vg` on node `i`, as LVM (the testbed's stand-in) lists them.
fn lvs(tb: &Testbed, i: usize, vg: &str) -> Vec<String> {
    let out = tb.sh(
        i,
        "/usr/sbin/lvm lvs --reportformat=json -o vg_name,lv_name,pool_lv,origin",
    );
    let json: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("lvs: {e}: {out}"));
    json["report"][0]["lv"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|r| r["vg_name"] == vg)
                .map(|r| r["lv_name"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A thin pool `tp_<id>` with a thin LV `brick_<id>` in `vg`, made with
/// Brickyard's own `lvcreate` line.
fn make_thin_lv(tb: &Testbed, i: usize, vg: &str, id: &str) {
    tb.sh(
        i,
        &format!(
            "/usr/sbin/lvm lvcreate -qq --autobackup=n --poolmetadatasize 8192K --chunksize 256K \
             --size 524288K --thin {vg}/tp_{id} --virtualsize 524288K --name brick_{id}"
        ),
    );
}

pub fn reconciler_mends_the_safe_drift_on_real_nodes(tb: &Testbed) {
    let s = server(tb);
    let topology = load_topology(tb, &s);
    let cluster = topology["clusters"][0]["id"].as_str().unwrap().to_string();
    let volume = s.create_volume(&volume_body(1, 3, 0));
    let name = volume["name"].as_str().unwrap().to_string();
    let bricks = volume["bricks"].as_array().unwrap().clone();
    assert_eq!(findings(&report(&s)), Vec::<Row>::new(), "in agreement at first");

    // Each brick's node, id, volume group and mount point.
    let at = |b: &Value| {
        let id = b["id"].as_str().unwrap().to_string();
        let vg = format!("vg_{}", b["device"].as_str().unwrap());
        let mount = b["path"].as_str().unwrap().trim_end_matches("/brick").to_string();
        (node_of_brick(tb, &s, b), id, vg, mount)
    };
    let (a, a_id, _, a_mount) = at(&bricks[0]);
    let (b, b_id, b_vg, b_mount) = at(&bricks[1]);
    let (c, _, c_vg, c_mount) = at(&bricks[2]);
    let (ip_a, ip_b, ip_c) = (tb.ip(a), tb.ip(b), tb.ip(c));

    // Node a: the fstab line of its mounted brick, deleted.
    let a_line = tb.sh(a, &format!("grep ' {a_mount} ' /etc/fstab")).trim().to_string();
    tb.sh(a, &format!("sed -i '/brick_{a_id}/d' /etc/fstab"));

    // Node b: its brick's LV removed. The brick process holds the mount,
    // so the volume is stopped first (by hand too: the store does not
    // record whether a volume runs).
    tb.sh(a, &format!("gluster --mode=script volume stop {name}"));
    tb.sh(
        b,
        &format!("umount {b_mount} && /usr/sbin/lvm lvremove --autobackup=n -f {b_vg}/brick_{b_id}"),
    );

    // Node c: its mounted brick's directory moved away (the volume is
    // stopped, so nothing holds it).
    let c_dir = format!("{c_mount}/brick");
    tb.sh(c, &format!("mv {c_dir} {c_mount}/moved"));

    // A gluster volume created outside Brickyard (never started).
    tb.sh(
        a,
        &format!(
            "mkdir -p {OUTSIDE_DIR}/brick && gluster --mode=script volume create {OUTSIDE} {ip_a}:{OUTSIDE_DIR}/brick force"
        ),
    );

    // Node c: a rolled-back brick's empty pool, and a thin LV with its pool
    // that no brick owns, formatted, mounted, in fstab and holding a file.
    make_thin_lv(tb, c, &c_vg, ROLLED_BACK);
    tb.sh(
        c,
        &format!("/usr/sbin/lvm lvremove --autobackup=n -f {c_vg}/brick_{ROLLED_BACK}"),
    );
    make_thin_lv(tb, c, &c_vg, KEPT);
    let kept_dev = format!("/dev/mapper/{c_vg}-brick_{KEPT}");
    let kept_mount = format!("/var/lib/heketi/mounts/{c_vg}/brick_{KEPT}");
    let kept_line = format!("{kept_dev} {kept_mount} xfs rw,inode64,noatime,nouuid 1 2");
    tb.sh(
        c,
        &format!(
            "mkfs.xfs -q -i size=512 -n size=8192 {kept_dev} && mkdir -p {kept_mount} && \
             mount -o rw,inode64,noatime,nouuid {kept_dev} {kept_mount} && \
             echo precious > {kept_mount}/data && echo '{kept_line}' >> /etc/fstab"
        ),
    );

    let kept = |lv: &str| format!("{c_vg}/{lv}_{KEPT}");
    let left = vec![
        row(
            "missing-lv",
            &ip_b,
            &format!("{b_vg}/brick_{b_id}"),
            "leave: brick-lost",
        ),
        row("missing-mount", &ip_b, &b_mount, "leave: not-mounted"),
        row("missing-brick-dir", &ip_c, &c_dir, "leave: brick-dir-lost"),
        row("orphan-fstab-line", &ip_c, &kept_line, "leave: may-be-wanted"),
        row("orphan-lv", &ip_c, &kept("brick"), "leave: may-hold-data"),
        row("orphan-lv", &ip_c, &kept("tp"), "leave: pool-in-use"),
        row("orphan-mount", &ip_c, &kept_mount, "leave: may-hold-data"),
        row("unknown-gluster-volume", &cluster, OUTSIDE, "leave: may-hold-data"),
    ];
    let mut found = left.clone();
    found.extend([
        row("missing-fstab-line", &ip_a, &a_mount, "append-fstab-line"),
        row(
            "orphan-lv",
            &ip_c,
            &format!("{c_vg}/tp_{ROLLED_BACK}"),
            "remove-thin-pool",
        ),
    ]);
    found.sort();
    let before = report(&s);
    assert_eq!(findings(&before), found, "{before}");
    assert!(
        before["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "missing-lv" && f["evidence"].as_str().unwrap_or_default().contains(&b_id)),
        "a brick's finding names the brick: {before}"
    );

    // The safe mends: the line is back as it was, the empty pool gone.
    apply(&s, PATH);
    let fstab_a = tb.sh(a, "cat /etc/fstab");
    assert_eq!(fstab_a.lines().filter(|l| *l == a_line).count(), 1, "{fstab_a}");
    let c_lvs = lvs(tb, c, &c_vg);
    assert!(!c_lvs.contains(&format!("tp_{ROLLED_BACK}")), "{c_lvs:?}");
    // Nothing that holds data was touched.
    for lv in [format!("brick_{KEPT}"), format!("tp_{KEPT}")] {
        assert!(c_lvs.contains(&lv), "{lv} removed: {c_lvs:?}");
    }
    assert_eq!(tb.sh(c, &format!("cat {kept_mount}/data")), "precious\n");
    assert!(tb.sh(c, "cat /etc/fstab").lines().any(|l| l == kept_line));
    assert!(tb
        .try_sh(a, &format!("gluster --mode=script volume info {OUTSIDE}"))
        .status
        .success());
    // The rest is still reported, each with its reason.
    let after = report(&s);
    let mut left_sorted = left.clone();
    left_sorted.sort();
    assert_eq!(findings(&after), left_sorted, "{after}");

    tb.sh(c, &format!("mv {c_mount}/moved {c_dir}"));

    // `--force` takes the orphan thin LV named as Brickyard names bricks
    // (unmounted, its fstab line and pool with it), and nothing else.
    apply(&s, &format!("{PATH}?force=true"));
    let c_lvs = lvs(tb, c, &c_vg);
    assert!(
        !c_lvs.iter().any(|lv| lv.ends_with(KEPT)),
        "the orphan brick is still there: {c_lvs:?}"
    );
    assert!(!tb.sh(c, "cat /etc/fstab").contains(KEPT));
    assert!(!tb.sh(c, "findmnt -rn -o TARGET").contains(KEPT));
    let mut still: Vec<Row> = left_sorted
        .into_iter()
        .filter(|(_, node, _, _)| *node != ip_c)
        .collect();
    still.sort();
    assert_eq!(findings(&report(&s)), still);
    assert!(
        tb.try_sh(a, &format!("gluster --mode=script volume info {OUTSIDE}"))
            .status
            .success(),
        "--force never removes a gluster volume"
    );

    // What was made by hand goes by hand; the volume through Brickyard.
    tb.sh(
        a,
        &format!("gluster --mode=script volume delete {OUTSIDE} && rm -rf {OUTSIDE_DIR}"),
    );
    let done = s.finish(s.delete(&format!("/volumes/{}", volume["id"].as_str().unwrap())));
    assert_eq!(done.status, 204, "{done:?}");
    assert_eq!(findings(&report(&s)), Vec::<Row>::new());
    s.assert_consistent();
    remove_topology(tb, &s);
}
