//! The examiner on real nodes: `GET /internal/state/examine/gluster` lists
//! each node's real gluster volumes, LVM reports (through the testbed's
//! LVM stand-in: real PVs and VGs, emulated thin LVs), mounts and fstab,
//! and `heketi-cli server state examine gluster` prints the same report.
//! A line added to one node's fstab by hand shows, unmounted, and
//! leaves again with it.

use serde_json::{json, Value};

use super::harness::{examined_node as node_data, Server};
use super::testbed::Testbed;
use super::{load_topology, node_of_brick, remove_topology, server, volume_body};

const PATH: &str = "/internal/state/examine/gluster";

fn rows<'a>(value: &'a Value, key: &str) -> &'a Vec<Value> {
    value["report"][0][key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} rows in {value}"))
}

/// The fstab line of `mount_point` in a node's report.
fn fstab_line<'a>(data: &'a Value, mount_point: &str) -> Option<&'a Value> {
    data["BricksMountStatus"]["Statuses"]
        .as_array()
        .and_then(|lines| lines.iter().find(|l| l["MountPoint"] == mount_point))
}

fn examine(s: &Server) -> Value {
    let reply = s.get(PATH);
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()
}

pub fn examiner_reports_real_lvm_mounts_and_fstab(tb: &Testbed) {
    let s = server(tb);
    load_topology(tb, &s);
    let volume = s.create_volume(&volume_body(1, 3, 0));
    let name = volume["name"].as_str().unwrap();

    let report = examine(&s);
    assert_eq!(
        report["report"],
        json!([
            "OnDemand Examiner invoked while 0 ops are in flight",
            "heketi volume list matches with volume list of all nodes"
        ]),
        "{report}"
    );
    for brick in volume["bricks"].as_array().unwrap() {
        let i = node_of_brick(tb, &s, brick);
        let (node, device, id) = (
            brick["node"].as_str().unwrap(),
            brick["device"].as_str().unwrap(),
            brick["id"].as_str().unwrap(),
        );
        let data = node_data(&report, node);
        // Gluster, as the node's own glusterd lists it.
        let listed = &data["VolumeInfo"]["Volumes"]["VolumeList"][0];
        assert_eq!(listed["VolumeName"], json!(name));
        assert_eq!(listed["StatusStr"], "Started");
        let id_on_node = tb.sh(
            i,
            &format!("gluster --mode=script volume info {name} | sed -n 's/^Volume ID: //p'"),
        );
        assert_eq!(listed["ID"], json!(id_on_node.trim()));
        let bricks: Vec<&str> = listed["Bricks"]["BrickList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["Name"].as_str().unwrap())
            .collect();
        assert!(bricks.contains(&format!("{}:{}", tb.ip(i), brick["path"].as_str().unwrap()).as_str()));
        // LVM: the node's real PV and VG, the brick's pool and thin LV.
        let vg = format!("vg_{device}");
        let pv = rows(&data["LVMPVInfo"], "pv")
            .iter()
            .find(|r| r["vg_name"] == json!(vg))
            .unwrap_or_else(|| panic!("no PV of {vg}: {}", data["LVMPVInfo"]));
        assert_eq!(pv["pv_fmt"], "lvm2");
        let vg_row = rows(&data["LVMVGInfo"], "vg")
            .iter()
            .find(|r| r["vg_name"] == json!(vg))
            .unwrap();
        assert_eq!(vg_row["lv_count"], "2", "{vg_row}");
        let size = |text: &Value| text.as_str().unwrap().trim_end_matches('k').parse::<f64>().unwrap();
        assert!(size(&vg_row["vg_free"]) < size(&vg_row["vg_size"]), "{vg_row}");
        let lvs = rows(&data["LVMLVInfo"], "lv");
        let thin = lvs.iter().find(|r| r["lv_name"] == format!("brick_{id}")).unwrap();
        assert_eq!(thin["pool_lv"], json!(format!("tp_{id}")));
        assert!(thin["lv_attr"].as_str().unwrap().starts_with('V'), "{thin}");
        assert!(lvs.iter().any(|r| r["lv_name"] == format!("tp_{id}")));
        // The brick's fstab line, mounted, as the node's files say.
        let mount_point = format!("/var/lib/heketi/mounts/{vg}/brick_{id}");
        let line = fstab_line(data, &mount_point).unwrap_or_else(|| panic!("{mount_point} not in {data}"));
        assert_eq!(
            (line["Type"].as_str(), line["Mounted"].as_bool()),
            (Some("xfs"), Some(true))
        );
        let fstab = tb.sh(i, "cat /etc/fstab");
        let device_path = line["Device"].as_str().unwrap();
        assert!(fstab.contains(&format!("{device_path} {mount_point} xfs")), "{fstab}");
        assert!(tb.sh(i, "findmnt -rn -o TARGET").lines().any(|l| l == mount_point));
    }

    // A line added by hand to node 1's fstab: listed, not mounted.
    let stray = "/dev/mapper/vg_stray-brick_stray /var/lib/heketi/mounts/vg_stray/brick_stray";
    tb.sh(1, &format!("echo '{stray} xfs rw,inode64 1 2' >> /etc/fstab"));
    let node1 = super::node_id(tb, &s, 1);
    let report = examine(&s);
    let line = fstab_line(
        node_data(&report, &node1),
        "/var/lib/heketi/mounts/vg_stray/brick_stray",
    )
    .unwrap_or_else(|| panic!("the stray line is not in {report}"));
    assert_eq!(line["Mounted"], false);
    tb.sh(1, "sed -i '/brick_stray/d' /etc/fstab");
    assert!(fstab_line(
        node_data(&examine(&s), &node1),
        "/var/lib/heketi/mounts/vg_stray/brick_stray"
    )
    .is_none());

    // heketi-cli prints the server's report as it came.
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_brickyard"))
        .args(["server", "state", "examine", "gluster", "--server", &s.base])
        .output()
        .unwrap();
    assert!(cli.status.success(), "{cli:?}");
    let printed: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(printed["report"], report["report"]);
    assert_eq!(printed["heketidb"], s.get("/db/dump").json());

    let done = s.finish(s.delete(&format!("/volumes/{}", volume["id"].as_str().unwrap())));
    assert_eq!(done.status, 204, "{done:?}");
    let report = examine(&s);
    for n in report["clusters"][0]["NodesData"].as_array().unwrap() {
        assert_eq!(n["VolumeInfo"]["Volumes"]["Count"], 0, "{n}");
        // No LV left: Go's `null` for an empty list.
        assert_eq!(n["LVMLVInfo"]["report"][0]["lv"], Value::Null, "{n}");
    }
    remove_topology(tb, &s);
}
