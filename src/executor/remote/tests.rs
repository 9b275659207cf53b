//! The remote executor against scripted transports: Heketi's batches,
//! cleanups and success rules, and fstab edits one at a time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::executor::commands::LvmReportKind;
use crate::executor::transport::TransportStats;
use crate::executor::{BrickSpec, DeviceHandle, DeviceSetupError, ExecError, Executor, GlusterVolumeSpec};

/// Answers commands by the first rule whose text the command contains;
/// anything else succeeds silently. Records every command.
#[derive(Default)]
struct Scripted {
    rules: Vec<(&'static str, Result<CommandOutput, TransportError>)>,
    seen: Mutex<Vec<String>>,
    stats: TransportStats,
}

/// A transport's answer, as the scripted rules hold them.
#[allow(clippy::unnecessary_wraps)]
fn out(status: u32, stdout: &str, stderr: &str) -> Result<CommandOutput, TransportError> {
    Ok(CommandOutput {
        status,
        stdout: stdout.into(),
        stderr: stderr.into(),
    })
}

#[async_trait]
impl Transport for Scripted {
    async fn run(&self, _host: &str, command: &str, _t: Duration) -> Result<CommandOutput, TransportError> {
        self.seen.lock().unwrap().push(command.to_string());
        self.rules
            .iter()
            .find(|(needle, _)| command.contains(needle))
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| out(0, "", ""))
    }
    fn stats(&self) -> &TransportStats {
        &self.stats
    }
}

fn executor(rules: Vec<(&'static str, Result<CommandOutput, TransportError>)>) -> (RemoteExecutor, Arc<Scripted>) {
    let transport = Arc::new(Scripted {
        rules,
        ..Default::default()
    });
    (
        RemoteExecutor::new(transport.clone(), CommandConfig::default(), false),
        transport,
    )
}

fn brick() -> BrickSpec {
    BrickSpec {
        device_id: "d1".into(),
        brick_id: "b1".into(),
        thin_pool: "tp_b1".into(),
        lv: "brick_b1".into(),
        size_kib: 1024,
        tp_kib: 1024,
        meta_kib: 8192,
        gid: 0,
        arbiter: false,
        path: crate::executor::brick_path("d1", "b1"),
    }
}

const PVS: &str = r#"{"report":[{"pv":[{"pv_name":"/dev/sdb","pv_uuid":"U-1","vg_name":"vg_d1"}]}]}"#;
const VGDISPLAY: &str = "vg_d1:r/w:772:-1:0:0:0:-1:0:1:1:8253440:4096:100:10:90:x";

#[tokio::test]
async fn device_setup_reads_sizes_and_paths() {
    let (ex, t) = executor(vec![
        ("pvs -o", out(0, PVS, "")),
        ("udevadm", out(0, "disk/by-id/wwn-1 disk/by-id/lvm-pv-uuid-U-1", "")),
        ("vgdisplay", out(0, VGDISPLAY, "")),
    ]);
    let report = ex.device_setup("n1", "/dev/sdb", "d1", false).await.unwrap();
    assert_eq!((report.total, report.used, report.free), (409_600, 40_960, 368_640));
    assert_eq!(report.pv_uuid, "U-1");
    assert_eq!(report.paths, ["/dev/disk/by-id/wwn-1", "/dev/sdb"]);
    assert!(t.seen.lock().unwrap()[0].contains("pvcreate"));
}

#[tokio::test]
async fn device_setup_failures_are_classified() {
    let (ex, _) = executor(vec![
        ("pvcreate", out(5, "", "Can't open /dev/sdb exclusively.")),
        ("pvs -o", out(0, PVS, "")),
    ]);
    match ex.device_setup("n1", "/dev/sdb", "d1", false).await {
        Err(DeviceSetupError::HasPhysicalVolume { pv_uuid, error }) => {
            assert_eq!(pv_uuid, "U-1");
            assert!(error.message.contains("n1") && error.message.contains("pvcreate"));
            assert!(error.message.ends_with("Can't open /dev/sdb exclusively."));
        }
        other => panic!("unexpected {other:?}"),
    }
    let (ex, _) = executor(vec![
        ("pvcreate", out(5, "", "wrong fs type")),
        ("pvs -o", out(5, "", "Failed to find")),
    ]);
    assert!(matches!(
        ex.device_setup("n1", "/dev/sdb", "d1", false).await,
        Err(DeviceSetupError::HasData(_))
    ));
    let (ex, _) = executor(vec![(
        "pvcreate",
        Err(TransportError::unreachable("connection refused")),
    )]);
    assert!(matches!(
        ex.device_setup("n1", "/dev/sdb", "d1", false).await,
        Err(DeviceSetupError::Unreachable(_))
    ));
}

#[tokio::test]
async fn a_failed_brick_create_stops_and_cleans_up_with_the_mount_point() {
    let (ex, t) = executor(vec![
        ("mkfs.xfs", out(1, "", "mkfs failed")),
        ("thin_count", out(0, "  0\n", "")),
    ]);
    let err = ex.brick_create("n1", &brick()).await.unwrap_err();
    assert!(err.message.contains("mkfs failed"), "{err}");
    let seen = t.seen.lock().unwrap().clone();
    let mkfs = seen.iter().position(|c| c.starts_with("mkfs.xfs")).unwrap();
    assert!(
        !seen[..=mkfs].iter().any(|c| c.starts_with("mount ")),
        "batch went on after the failure"
    );
    assert_eq!(seen[mkfs + 1], format!("umount {}", brick().mount_point()));
    assert!(seen.iter().any(|c| c.ends_with("-f vg_d1/tp_b1")));
}

#[tokio::test]
async fn brick_destroy_reclaims_only_an_empty_pool() {
    let (ex, t) = executor(vec![("thin_count", out(0, "  1\n", ""))]);
    assert!(!ex.brick_destroy("n1", &brick()).await.unwrap());
    assert!(!t
        .seen
        .lock()
        .unwrap()
        .iter()
        .any(|c| c.ends_with("vg_d1/tp_b1") && c.contains("lvremove")));
    let (ex, _) = executor(vec![
        (
            "thin_count",
            out(5, "", "Failed to find logical volume \"vg_d1/tp_b1\""),
        ),
        (
            "lvremove",
            out(5, "", "Failed to find logical volume \"vg_d1/brick_b1\""),
        ),
    ]);
    assert!(
        ex.brick_destroy("n1", &brick()).await.unwrap(),
        "a brick already gone is removed"
    );
}

#[tokio::test]
async fn brick_destroy_of_an_unmounted_brick_goes_on_but_a_busy_one_stops() {
    let (ex, _) = executor(vec![
        ("umount", out(32, "", "not mounted")),
        ("mount", out(0, "/dev/sda1 on / type xfs (rw)\n", "")),
        ("thin_count", out(0, "0", "")),
    ]);
    assert!(ex.brick_destroy("n1", &brick()).await.unwrap());
    let mnt = brick().mount_point();
    let mounts: &'static str = Box::leak(format!("/dev/loop1 on {mnt} type xfs (rw)\n").into_boxed_str());
    let (ex, t) = executor(vec![
        ("umount", out(32, "", "target is busy")),
        ("mount", out(0, mounts, "")),
    ]);
    let err = ex.brick_destroy("n1", &brick()).await.unwrap_err();
    assert!(err.message.contains("target is busy"));
    let seen = t.seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|c| c.starts_with("sed -i.save")),
        "fstab line removed first"
    );
    assert!(!seen.iter().any(|c| c.contains("lvremove")), "LVs kept while mounted");
}

/// Records how many fstab edits overlap on one node.
#[derive(Default)]
struct Overlap {
    inside: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    stats: TransportStats,
}

#[async_trait]
impl Transport for Overlap {
    async fn run(&self, _host: &str, command: &str, _t: Duration) -> Result<CommandOutput, TransportError> {
        use std::sync::atomic::Ordering::SeqCst;
        if command.starts_with("sed -i") || command.starts_with("awk ") {
            let now = self.inside.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(now, SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.inside.fetch_sub(1, SeqCst);
        }
        let stdout = if command.contains("thin_count") { "0" } else { "" };
        out(0, stdout, "")
    }
    fn stats(&self) -> &TransportStats {
        &self.stats
    }
}

#[tokio::test]
async fn fstab_edits_on_one_node_never_overlap() {
    let transport = Arc::new(Overlap::default());
    let ex = RemoteExecutor::new(transport.clone(), CommandConfig::default(), false);
    let bricks: Vec<BrickSpec> = (0..4)
        .map(|i| BrickSpec {
            brick_id: format!("b{i}"),
            lv: format!("brick_b{i}"),
            thin_pool: format!("tp_b{i}"),
            path: crate::executor::brick_path("d1", &format!("b{i}")),
            ..brick()
        })
        .collect();
    let creates = bricks.iter().map(|b| ex.brick_create("n1", b));
    for r in futures::future::join_all(creates).await {
        r.unwrap();
    }
    let destroys = bricks.iter().map(|b| ex.brick_destroy("n1", b));
    for r in futures::future::join_all(destroys).await {
        r.unwrap();
    }
    assert_eq!(transport.most.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn volume_destroy_accepts_a_missing_volume() {
    let (ex, _) = executor(vec![
        (
            "volume stop",
            out(1, "", "volume stop: v: failed: Volume v does not exist"),
        ),
        (
            "volume delete",
            out(1, "", "volume delete: v: failed: Volume v does not exist"),
        ),
    ]);
    ex.volume_destroy("n1", "v").await.unwrap();
    let (ex, _) = executor(vec![(
        "volume delete",
        out(1, "", "Another transaction is in progress"),
    )]);
    assert!(ex
        .volume_destroy("n1", "v")
        .await
        .unwrap_err()
        .message
        .contains("Another transaction"));
}

#[tokio::test]
async fn volume_expand_skips_bricks_already_added() {
    let info: &'static str = "<cliOutput><opRet>0</opRet><opErrstr/><volInfo><volumes><volume><name>v</name><id>i</id><bricks><brick><name>h1:/b/1</name></brick></bricks></volume></volumes></volInfo></cliOutput>";
    let (ex, t) = executor(vec![("volume info", out(0, info, ""))]);
    let spec = GlusterVolumeSpec {
        name: "v".into(),
        layout: crate::executor::VolumeLayout::Distribute,
        bricks: vec!["h1:/b/1".into(), "h2:/b/2".into()],
        options: vec![],
    };
    ex.volume_expand("n1", &spec).await.unwrap();
    let seen = t.seen.lock().unwrap().clone();
    let add: Vec<&String> = seen.iter().filter(|c| c.contains("add-brick")).collect();
    assert_eq!(add.len(), 1);
    assert!(add[0].ends_with("add-brick v h2:/b/2 "), "{}", add[0]);
    assert!(seen.last().unwrap().contains("rebalance v start"));
}

#[tokio::test]
async fn a_retried_volume_create_finishes_with_its_options_and_start() {
    let info: &'static str = "<cliOutput><opRet>0</opRet><opErrstr/><volInfo><volumes><volume><name>v</name><id>i</id><bricks><brick><name>h1:/b/1</name></brick><brick><name>h2:/b/2</name></brick></bricks></volume></volumes></volInfo></cliOutput>";
    let (ex, t) = executor(vec![
        (
            "volume create",
            out(1, "", "volume create: v: failed: Volume v already exists"),
        ),
        ("volume info", out(0, info, "")),
    ]);
    let spec = GlusterVolumeSpec {
        name: "v".into(),
        layout: crate::executor::VolumeLayout::Distribute,
        bricks: vec!["h1:/b/1".into(), "h2:/b/2".into()],
        options: vec!["user.x 1".into()],
    };
    ex.volume_create("n1", &spec).await.unwrap();
    let seen = t.seen.lock().unwrap().clone();
    let after_info = seen.iter().position(|c| c.contains("volume info")).unwrap();
    assert_eq!(
        seen[after_info + 1..],
        [
            "gluster --mode=script --timeout=600 volume set v user.x 1",
            "gluster --mode=script --timeout=600 volume start v"
        ]
    );
    assert!(!seen.iter().any(|c| c.contains("add-brick")), "{seen:?}");
}

#[tokio::test]
async fn timeouts_are_told_apart_from_other_failures() {
    let (ex, _) = executor(vec![
        ("replace-brick", out(1, "", "Error : Request timed out")),
        ("volume heal", Err(TransportError::timed_out("SSH command timeout"))),
        ("peer probe", Err(TransportError::unreachable("connection refused"))),
        (
            "peer detach",
            out(1, "", "peer detach: failed: n2 is not part of cluster"),
        ),
    ]);
    let kinds = |e: ExecError| (e.timed_out, e.unreachable);
    let gluster = ex.brick_replace("n1", "v", "a:/1", "b:/2").await.unwrap_err();
    assert_eq!(kinds(gluster), (true, false));
    let transport = ex.heal_start("n1", "v").await.unwrap_err();
    assert_eq!(kinds(transport), (true, true));
    let refused = ex.peer_probe("n1", "n2").await.unwrap_err();
    assert_eq!(kinds(refused), (false, true));
    let failed = ex.peer_detach("n1", "n2").await.unwrap_err();
    assert_eq!(kinds(failed), (false, false));
}

/// A node whose fstab does not exist yet (a Kubernetes node's
/// `HEKETI_FSTAB` before its first brick) has no brick lines, and is not
/// unreachable; any other failure to read it is an error.
#[tokio::test]
async fn a_missing_fstab_holds_no_brick_lines() {
    let lvs = r#"{"report":[{"lv":[]}]}"#;
    let (e, _) = executor(vec![
        ("lvs --reportformat=json", out(0, lvs, "")),
        (
            "cat /etc/fstab",
            out(1, "", "cat: /etc/fstab: No such file or directory"),
        ),
    ]);
    let inventory = e.node_inventory("n1").await.unwrap();
    assert!(inventory.fstab.is_empty());
    let (e, _) = executor(vec![
        ("lvs --reportformat=json", out(0, lvs, "")),
        ("cat /etc/fstab", out(1, "", "cat: /etc/fstab: Permission denied")),
    ]);
    let error = e.node_inventory("n1").await.unwrap_err();
    assert!(error.message.contains("Permission denied"), "{error:?}");
}

/// Brick directories as `find` lists them; a mount root not made yet holds
/// none, but any other complaint may hide one, so the inventory fails.
#[tokio::test]
async fn brick_directories_are_what_find_could_list() {
    let lvs = r#"{"report":[{"lv":[]}]}"#;
    let dir = "/var/lib/heketi/mounts/vg_d/brick_b/brick";
    let inventory = |found: Result<CommandOutput, TransportError>| {
        let (e, _) = executor(vec![
            ("lvs --reportformat=json", out(0, lvs, "")),
            ("find /var/lib/heketi/mounts", found),
        ]);
        async move { e.node_inventory("n1").await }
    };
    let listed = inventory(out(0, &format!("{dir}\n"), "")).await.unwrap();
    assert_eq!(listed.brick_dirs, [dir]);
    let gone = "find: '/var/lib/heketi/mounts': No such file or directory";
    assert!(inventory(out(1, "", gone)).await.unwrap().brick_dirs.is_empty());
    let unreadable = "find: '/var/lib/heketi/mounts/vg_d/brick_c': Permission denied";
    let error = inventory(out(1, dir, unreadable)).await.unwrap_err();
    assert!(error.message.contains("Permission denied"), "{error:?}");
    assert!(inventory(out(1, dir, "")).await.is_err());
}

#[tokio::test]
async fn block_volume_names_are_read_from_gluster_block_list() {
    let listed = r#"{ "blocks": [ "lun0" ], "RESULT": "SUCCESS" }"#;
    let (e, _) = executor(vec![("gluster-block list vol_1 --json", out(0, listed, ""))]);
    assert_eq!(e.block_volume_names("n1", "vol_1").await.unwrap(), ["lun0"]);
    let failed = r#"{ "RESULT": "FAIL", "errCode": 2, "errMsg": "Volume vol_1 does not exist" }"#;
    let (e, _) = executor(vec![("gluster-block list", out(2, failed, ""))]);
    let error = e.block_volume_names("n1", "vol_1").await.unwrap_err();
    assert_eq!(
        error.message,
        "Unable to list blockvolumes on block hosting volume vol_1 : Volume vol_1 does not exist"
    );
}

#[tokio::test]
async fn peers_are_read_from_gluster_peer_status() {
    let xml = "<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/><peerStatus>\
               <peer><uuid>u</uuid><hostname>10.0.0.2</hostname></peer></peerStatus></cliOutput>";
    let (e, seen) = executor(vec![("peer status --xml", out(0, xml, ""))]);
    assert_eq!(e.peer_hostnames("n1").await.unwrap(), ["10.0.0.2"]);
    assert_eq!(
        seen.seen.lock().unwrap().as_slice(),
        ["gluster --mode=script --timeout=600 peer status --xml"]
    );
    let (e, _) = executor(vec![("peer status --xml", out(0, "not xml", ""))]);
    assert!(e.peer_hostnames("n1").await.is_err());
}

#[tokio::test]
async fn a_bricks_fstab_line_is_appended_only_when_none_mounts_there() {
    let line = "/dev/mapper/vg_d1-brick_b1 /var/lib/heketi/mounts/vg_d1/brick_b1 xfs rw,inode64,noatime,nouuid 1 2";
    let (ex, t) = executor(vec![("cat /etc/fstab", out(0, "/dev/sda1 / ext4 rw 0 1\n", ""))]);
    ex.brick_fstab_append("n1", &brick()).await.unwrap();
    let seen = t.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1], String::from(CommandConfig::default().fstab_append(&brick())));
    assert!(seen[1].contains(line), "{seen:?}");
    // A line for the mount point is there already: nothing is appended.
    let (ex, t) = executor(vec![("cat /etc/fstab", out(0, &format!("{line}\n"), ""))]);
    ex.brick_fstab_append("n1", &brick()).await.unwrap();
    assert_eq!(t.seen.lock().unwrap().as_slice(), ["cat /etc/fstab"]);
    // An fstab that cannot be read is an error, and nothing is appended.
    let (ex, t) = executor(vec![(
        "cat /etc/fstab",
        out(1, "", "cat: /etc/fstab: Permission denied"),
    )]);
    assert!(ex.brick_fstab_append("n1", &brick()).await.is_err());
    assert_eq!(t.seen.lock().unwrap().len(), 1);
}

fn handle(pv_uuid: &str, paths: &[&str]) -> DeviceHandle {
    DeviceHandle {
        device_id: "d1".into(),
        pv_uuid: pv_uuid.into(),
        paths: paths.iter().map(ToString::to_string).collect(),
    }
}

/// Devices imported from Heketi databases carry no PV UUID: it is looked
/// up by the volume group, then the by-uuid link is tried first and, on a
/// node without udev's links, the recorded path.
#[tokio::test]
async fn a_device_without_a_pv_uuid_is_found_by_its_volume_group_and_path() {
    let (ex, t) = executor(vec![
        (
            "vgs -o pv_name,pv_uuid,vg_name --reportformat=json vg_d1",
            out(0, PVS, ""),
        ),
        (
            "pvs -o pv_name,pv_uuid,vg_name --reportformat=json /dev/disk/by-id/lvm-pv-uuid-U-1",
            out(
                5,
                "",
                "  Failed to find physical volume \"/dev/disk/by-id/lvm-pv-uuid-U-1\".",
            ),
        ),
        ("pvs -o", out(0, PVS, "")),
        ("vgdisplay", out(0, VGDISPLAY, "")),
    ]);
    let report = ex.device_info("n1", &handle("", &["/dev/sdb"])).await.unwrap();
    assert_eq!((report.total, report.pv_uuid.as_str()), (409_600, "U-1"));
    let seen = t.seen.lock().unwrap().clone();
    let order: Vec<usize> = [
        "vgs -o",
        "lvm-pv-uuid-U-1",
        "pvs -o pv_name,pv_uuid,vg_name --reportformat=json /dev/sdb",
    ]
    .iter()
    .map(|needle| seen.iter().position(|c| c.contains(needle)).unwrap_or(usize::MAX))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{seen:#?}");
    // A failure that is not a missing path stops at the first path.
    let (ex, t) = executor(vec![("pvs -o", out(5, "", "  Device /dev/sdb excluded by a filter."))]);
    assert!(ex.device_info("n1", &handle("U-1", &["/dev/sdb"])).await.is_err());
    assert_eq!(
        t.seen.lock().unwrap().iter().filter(|c| c.contains("pvs -o")).count(),
        1
    );
}

/// Teardown wants the device gone: a volume group or PV already gone is
/// success, on every path; anything else is an error.
#[tokio::test]
async fn teardown_tolerates_what_is_already_gone() {
    let (ex, t) = executor(vec![
        ("vgremove", out(5, "", "  Volume group \"vg_d1\" not found")),
        ("pvremove", out(5, "", "  No PV found on device /dev/sdb.")),
        (
            "rmdir",
            out(1, "", "rmdir: failed to remove: No such file or directory"),
        ),
    ]);
    ex.device_teardown("n1", &handle("U-1", &["/dev/sdb"])).await.unwrap();
    let seen = t.seen.lock().unwrap().clone();
    assert_eq!(seen.iter().filter(|c| c.contains("pvremove")).count(), 2, "{seen:#?}");
    let (ex, _) = executor(vec![("vgremove", out(5, "", "  Logical volume vg_d1/brick_1 in use."))]);
    let e = ex
        .device_teardown("n1", &handle("U-1", &["/dev/sdb"]))
        .await
        .unwrap_err();
    assert!(e.message.contains("in use"), "{e:?}");
    let (ex, _) = executor(vec![("pvremove", out(5, "", "  Can't open /dev/sdb exclusively."))]);
    assert!(ex.device_teardown("n1", &handle("U-1", &["/dev/sdb"])).await.is_err());
}

#[tokio::test]
async fn the_examiners_queries_run_heketis_lines_and_say_what_failed() {
    let lvs =
        r#"{"report":[{"lv":[{"lv_name":"brick_b1","vg_name":"vg_d1","lv_attr":"Vwi-aotz--","pool_lv":"tp_b1"}]}]}"#;
    let (ex, t) = executor(vec![
        ("lvs --reportformat json --units k", out(0, lvs, "")),
        (
            "vgs --reportformat json --units k",
            out(5, "", "  WARNING: locking failed"),
        ),
        ("pvs --reportformat json --units k", out(0, "not json", "")),
        (
            "mount",
            out(
                0,
                "/dev/loop3 on /var/lib/heketi/mounts/vg_d1/brick_b1 type xfs (rw)\n",
                "",
            ),
        ),
        (
            "cat /etc/fstab",
            out(
                0,
                "/dev/mapper/vg_d1-brick_b1 /var/lib/heketi/mounts/vg_d1/brick_b1 xfs rw 1 2\n",
                "",
            ),
        ),
    ]);
    let Ok(crate::executor::examine::LvmRows::Lvs(report)) = ex.examine_lvm("n1", LvmReportKind::Lvs).await else {
        panic!("no LV report");
    };
    assert_eq!(report.report[0].lv[0].pool_lv, "tp_b1");
    let vgs = ex.examine_lvm("n1", LvmReportKind::Vgs).await.unwrap_err();
    assert!(vgs.message.starts_with("Unable to get data for LVM VGs: n1: "), "{vgs}");
    assert!(vgs.message.ends_with("WARNING: locking failed"), "{vgs}");
    let pvs = ex.examine_lvm("n1", LvmReportKind::Pvs).await.unwrap_err();
    assert!(pvs.message.starts_with("Unable to determine LVM PVs: "), "{pvs}");
    let mounts = ex.examine_mounts("n1").await.unwrap();
    assert!(mounts.statuses[0].mounted);
    assert_eq!(
        t.seen.lock().unwrap().as_slice(),
        [
            "/usr/sbin/lvm lvs --reportformat json --units k",
            "/usr/sbin/lvm vgs --reportformat json --units k",
            "/usr/sbin/lvm pvs --reportformat json --units k",
            "mount",
            "cat /etc/fstab"
        ]
    );
}

fn block_spec() -> crate::executor::BlockVolumeSpec {
    crate::executor::BlockVolumeSpec {
        hosting_volume: "vol_h".into(),
        name: "bv".into(),
        hosts: vec!["10.0.0.1".into(), "10.0.0.2".into()],
        auth: crate::executor::BlockAuth::Enable,
        size_gib: 2,
    }
}

#[tokio::test]
async fn gluster_block_create_reads_its_json_and_its_failures() {
    let created = r#"{ "IQN": "iqn.2016-12.org.gluster-block:g1", "USERNAME": "g1", "PASSWORD": "pw", "PORTAL(S)": [ "10.0.0.1:3260", "10.0.0.2:3260" ], "RESULT": "SUCCESS" }"#;
    let (ex, t) = executor(vec![("gluster-block create", out(0, created, ""))]);
    let made = ex.block_volume_create("n1", &block_spec()).await.unwrap();
    assert_eq!(
        (made.iqn.as_str(), made.password.as_str()),
        ("iqn.2016-12.org.gluster-block:g1", "pw")
    );
    assert_eq!(
        t.seen.lock().unwrap().as_slice(),
        ["gluster-block create vol_h/bv ha 2 auth enable prealloc full 10.0.0.1,10.0.0.2 2GiB --json"]
    );
    // gluster-block explains a failure in its JSON (on stderr when stdout is empty).
    let failed = r#"{ "RESULT": "FAIL", "errCode": 17, "errMsg": "BLOCK with name: 'bv' already EXIST" }"#;
    let (ex, _) = executor(vec![("gluster-block create", out(17, "", failed))]);
    let e = ex.block_volume_create("n1", &block_spec()).await.unwrap_err();
    assert_eq!(
        e.message,
        "Failed to create block volume: BLOCK with name: 'bv' already EXIST"
    );
    let (ex, _) = executor(vec![(
        "gluster-block create",
        out(1, "", "bash: gluster-block: command not found"),
    )]);
    let e = ex.block_volume_create("n1", &block_spec()).await.unwrap_err();
    assert_eq!(
        e.message,
        "Unparsable error during block volume create: bash: gluster-block: command not found"
    );
    let (ex, _) = executor(vec![(
        "gluster-block create",
        Err(TransportError::timed_out("timed out")),
    )]);
    assert!(
        ex.block_volume_create("n1", &block_spec())
            .await
            .unwrap_err()
            .unreachable
    );
}

#[tokio::test]
async fn gluster_block_delete_counts_a_missing_block_as_deleted() {
    let gone = r#"{ "RESULT": "FAIL", "errCode": 2, "errMsg": "block vol_h/bv doesn't exist" }"#;
    let (ex, _) = executor(vec![("gluster-block delete", out(2, "", gone))]);
    ex.block_volume_delete("n1", "vol_h", "bv").await.unwrap();
    let no_volume = r#"{ "RESULT": "FAIL", "errCode": 2, "errMsg": "Volume vol_h does not exist" }"#;
    let (ex, _) = executor(vec![("gluster-block delete", out(2, no_volume, ""))]);
    ex.block_volume_delete("n1", "vol_h", "bv").await.unwrap();
    let busy = r#"{ "RESULT": "FAIL", "errCode": 16, "errMsg": "block is busy" }"#;
    let (ex, _) = executor(vec![("gluster-block delete", out(16, busy, ""))]);
    assert_eq!(
        ex.block_volume_delete("n1", "vol_h", "bv").await.unwrap_err().message,
        "block is busy"
    );
    let (ex, t) = executor(vec![("gluster-block delete", out(0, r#"{"RESULT":"SUCCESS"}"#, ""))]);
    ex.block_volume_delete("n1", "vol_h", "bv").await.unwrap();
    assert_eq!(
        t.seen.lock().unwrap().as_slice(),
        ["gluster-block delete vol_h/bv --json"]
    );
}

#[tokio::test]
async fn gluster_block_modify_and_info() {
    let (ex, t) = executor(vec![(
        "gluster-block modify",
        out(0, r#"{"IQN":"q","SIZE":"3.0 GiB","RESULT":"SUCCESS"}"#, ""),
    )]);
    ex.block_volume_expand("n1", "vol_h", "bv", 3).await.unwrap();
    assert_eq!(
        t.seen.lock().unwrap().as_slice(),
        ["gluster-block modify vol_h/bv  size 3GiB --json"]
    );
    let (ex, _) = executor(vec![(
        "gluster-block modify",
        out(1, r#"{"RESULT":"FAIL","errMsg":"resize failed"}"#, ""),
    )]);
    assert_eq!(
        ex.block_volume_expand("n1", "vol_h", "bv", 3)
            .await
            .unwrap_err()
            .message,
        "Failed to expand block volume: resize failed (see logs for details, and retry the operation)"
    );
    let info = r#"{ "NAME": "bv", "VOLUME": "vol_h", "GBID": "g1", "SIZE": "3.0 GiB", "HA": 2, "PASSWORD": "", "EXPORTED ON": [ "10.0.0.1", "10.0.0.2" ] }"#;
    let (ex, _) = executor(vec![("gluster-block info", out(0, info, ""))]);
    let report = ex.block_volume_info("n1", "vol_h", "bv").await.unwrap().unwrap();
    assert_eq!(
        (report.size_gib, report.usable_size_gib, report.iqn()),
        (3, None, "iqn.2016-12.org.gluster-block:g1".to_string())
    );
    let gone = r#"{ "RESULT": "FAIL", "errCode": 2, "errMsg": "block vol_h/bv doesn't exist" }"#;
    let (ex, _) = executor(vec![("gluster-block info", out(2, gone, ""))]);
    assert_eq!(ex.block_volume_info("n1", "vol_h", "bv").await.unwrap(), None);
}
