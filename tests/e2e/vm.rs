//! The VM tier: a qemu guest (`scripts/lvm-vm`) with Debian's kernel, so
//! LVM thin pools, thin LVs and gluster snapshots are real, not stood in for,
//! and a block volume is a real iSCSI LUN (LIO, through targetcli) that the
//! guest's own initiator (open-iscsi) logs in to, writes and sees grow.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::harness::{Options, Server};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/lvm-vm")
}

fn run(args: &[&str]) -> Output {
    Command::new(script())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/lvm-vm: {e}"))
}

fn checked(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "scripts/lvm-vm {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A booted VM, shut down when dropped.
pub struct Vm {
    env: HashMap<String, String>,
}

impl Vm {
    pub fn up() -> Vm {
        checked(&["build"]);
        let _ = run(&["down"]);
        checked(&["up"]);
        let dir = std::env::var("BRICKYARD_VM_DIR").unwrap_or_else(|_| "/var/tmp/brickyard-lvm-vm".into());
        let body = std::fs::read_to_string(PathBuf::from(dir).join("run/vm.env")).expect("run/vm.env");
        let env = body
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Vm { env }
    }

    fn var(&self, key: &str) -> &str {
        self.env
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("vm.env has no {key}"))
    }

    /// Runs a shell command line in the guest, asserting success.
    pub fn sh(&self, command: &str) -> String {
        checked(&["ssh", command])
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = run(&["down"]);
    }
}

/// LV name and attributes in the device's volume group, one per line.
fn lvs(vm: &Vm, vg: &str) -> Vec<String> {
    vm.sh(&format!("/usr/sbin/lvm lvs --noheadings -o lv_name,lv_attr {vg}"))
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

pub fn real_lvm_thin_and_gluster(_tb: &crate::testbed::Testbed) {
    let vm = Vm::up();
    let s = Server::with(Options {
        glusterfs: Some(json!({"executor": "ssh", "sshexec": {
            "keyfile": vm.var("VM_SSH_KEY"),
            "user": vm.var("VM_SSH_USER"),
            "port": vm.var("VM_SSH_PORT"),
            "known_hosts": vm.var("VM_KNOWN_HOSTS"),
            "host_key_checking": "yes",
        },
        // One node: the hosting volume is plain distribute, on which
        // gluster refuses group gluster-block's replicate options.
        "block_hosting_volume_options": "features.shard on"})),
        wait_secs: 300,
        ..Options::default()
    });
    let storage = vm.var("VM_STORAGE_IP").to_string();
    let cluster = s.create_cluster();
    let node = s.add_node(&cluster, 1, vm.var("VM_SSH_HOST"), &storage);
    let device = s.add_device(&node, vm.var("VM_DISK"));
    let vg = format!("vg_{device}");
    assert!(vm.sh("/usr/sbin/lvm vgs --noheadings -o vg_name").contains(&vg));
    let total = s.get(&format!("/devices/{device}")).json()["storage"]["total"].clone();
    assert!(
        total.as_u64().unwrap() > 7 * 1024 * 1024,
        "vgdisplay sizes read: {total}"
    );

    // A real thin pool and thin LV, formatted, mounted and in fstab.
    let info = s.create_volume(&json!({"size": 1, "durability": {"type": "none"}, "gid": 2001}).to_string());
    let name = info["name"].as_str().unwrap().to_string();
    let id = info["id"].as_str().unwrap().to_string();
    let brick = info["bricks"][0].clone();
    let brick_id = brick["id"].as_str().unwrap();
    let path = brick["path"].as_str().unwrap();
    let lvs_now = lvs(&vm, &vg);
    assert!(
        lvs_now.iter().any(|l| l.starts_with(&format!("tp_{brick_id} t"))),
        "{lvs_now:?}"
    );
    assert!(
        lvs_now.iter().any(|l| l.starts_with(&format!("brick_{brick_id} V"))),
        "{lvs_now:?}"
    );
    let mount = vm.sh(&format!(
        "findmnt -n -o SOURCE,FSTYPE {}",
        path.trim_end_matches("/brick")
    ));
    assert!(mount.contains("xfs"), "{mount}");
    assert_eq!(vm.sh(&format!("grep -c brick_{brick_id} /etc/fstab")).trim(), "1");
    assert_eq!(vm.sh(&format!("stat -c '%g %a' {path}")).trim(), "2001 2775");

    let written = vm.sh(&format!(
        "mkdir -p /mnt/{name} && mount -t glusterfs {storage}:/{name} /mnt/{name} && \
         echo thin-brick > /mnt/{name}/f && cat /mnt/{name}/f && umount /mnt/{name}"
    ));
    assert_eq!(written.trim(), "thin-brick");
    assert_eq!(vm.sh(&format!("cat {path}/f")).trim(), "thin-brick");

    // A clone from a real gluster snapshot, then both gone without a trace.
    let done = s.finish(s.post(&format!("/volumes/{id}/clone"), r#"{"name": "vmclone"}"#));
    assert_eq!(done.status, 303, "clone: {done:?}");
    let clone = s.get(&done.location()).json();
    let clone_path = clone["bricks"][0]["path"].as_str().unwrap().to_string();
    assert!(clone_path.starts_with("/run/gluster/snaps/"), "{clone_path}");
    assert_eq!(vm.sh(&format!("cat {clone_path}/f")).trim(), "thin-brick");
    // What glusterd makes for a clone, as the mock models it: an LV named
    // after the clone's volume id and the brick's position, in the origin
    // brick's thin pool, mounted under /run/gluster/snaps/<that id>.
    let gluster_id = vm
        .sh("gluster --mode=script volume info vmclone | sed -n 's/^Volume ID: //p'")
        .trim()
        .replace('-', "");
    let pool = format!("tp_{brick_id}");
    let thin = |lv: &str| {
        vm.sh(&format!("/usr/sbin/lvm lvs --noheadings -o pool_lv {vg}/{lv}"))
            .trim()
            .to_string()
    };
    assert_eq!(thin(&format!("{gluster_id}_0")), pool);
    assert_eq!(clone_path, format!("/run/gluster/snaps/{gluster_id}/brick1/brick"));
    // A clone of the clone: its LV goes to the same pool.
    let done = s.finish(s.post(
        &format!("/volumes/{}/clone", clone["id"].as_str().unwrap()),
        r#"{"name": "vmclone2"}"#,
    ));
    assert_eq!(done.status, 303, "clone of a clone: {done:?}");
    let clone2 = s.get(&done.location()).json();
    let clone2_id = vm
        .sh("gluster --mode=script volume info vmclone2 | sed -n 's/^Volume ID: //p'")
        .trim()
        .replace('-', "");
    assert_eq!(thin(&format!("{clone2_id}_0")), pool);
    // The store against the real node (real lvs JSON, /proc/mounts, fstab).
    let check = s.get("/db/check?nodes=true").json();
    assert_eq!(check["totalinconsistencies"], 0, "{check}");
    // gluster's own volume delete of a clone leaves its LV and its mount:
    // that is why Brickyard destroys clone bricks itself.
    vm.sh("gluster --mode=script volume stop vmclone2 force && gluster --mode=script volume delete vmclone2");
    assert!(lvs(&vm, &vg).iter().any(|l| l.starts_with(&format!("{clone2_id}_0 "))));
    assert!(vm
        .sh("findmnt -rn -o TARGET")
        .contains(&format!("/run/gluster/snaps/{clone2_id}/brick1")));
    let report = s.get("/db/check?nodes=true").json();
    assert_eq!(
        report["drift"]["findings"][0]["kind"], "missing-gluster-volume",
        "{report}"
    );
    let done = s.finish(s.delete(&format!("/volumes/{}", clone2["id"].as_str().unwrap())));
    assert_eq!(done.status, 204, "clone delete after gluster's: {done:?}");
    assert!(!lvs(&vm, &vg).iter().any(|l| l.starts_with(&format!("{clone2_id}_0 "))));
    assert!(!vm.sh("findmnt -rn -o TARGET").contains(&clone2_id));
    let done = s.finish(s.delete(&format!("/volumes/{}", clone["id"].as_str().unwrap())));
    assert_eq!(done.status, 204, "clone delete: {done:?}");
    let lvs_now = lvs(&vm, &vg);
    assert_eq!(lvs_now.len(), 2, "only the origin's pool and LV remain: {lvs_now:?}");

    // Through the CSI driver: CreateVolume from a volume source is a clone
    // on a real snapshot that has the file, mounted as the node plugin
    // mounts it (its volume context), and DeleteVolume leaves no LV.
    let dir = tempfile::tempdir().unwrap();
    let csi = crate::csi::HostController::start(&s, dir.path());
    let cloned = csi.create("pvc-vm-clone", Some(&id));
    let info = s.get(&format!("/volumes/{}", cloned.volume_id)).json();
    let cloned_path = info["bricks"][0]["path"].as_str().unwrap().to_string();
    assert!(cloned_path.starts_with("/run/gluster/snaps/"), "{cloned_path}");
    assert_eq!(vm.sh(&format!("cat {cloned_path}/f")).trim(), "thin-brick");
    let (server, volume) = (&cloned.volume_context["server"], &cloned.volume_context["name"]);
    assert_eq!(server, &storage);
    let read = vm.sh(&format!(
        "mkdir -p /mnt/{volume} && mount -t glusterfs {server}:/{volume} /mnt/{volume} && \
         cat /mnt/{volume}/f && umount /mnt/{volume}"
    ));
    assert_eq!(read.trim(), "thin-brick");
    assert_eq!(lvs(&vm, &vg).len(), 3, "the clone's LV is in the origin's pool");
    csi.delete(&cloned.volume_id);
    csi.delete(&cloned.volume_id);
    assert_eq!(lvs(&vm, &vg), lvs_now, "the clone's LV is gone");
    assert!(!vm.sh("findmnt -rn -o TARGET").contains("/run/gluster/snaps/"));
    drop(csi);

    let done = s.finish(s.delete(&format!("/volumes/{id}")));
    assert_eq!(done.status, 204, "delete: {done:?}");
    assert_eq!(lvs(&vm, &vg), Vec::<String>::new());
    assert_eq!(vm.sh("grep -c brick_ /etc/fstab || true").trim(), "0");
    assert_eq!(
        vm.sh("findmnt -rn -o TARGET | grep -c /var/lib/heketi/ || true").trim(),
        "0"
    );
    let device_info: Value = s.get(&format!("/devices/{device}")).json();
    assert_eq!(device_info["storage"]["free"], device_info["storage"]["total"]);
    s.assert_consistent();

    block_volume_over_real_iscsi(&vm, &s, &storage);
    let device_info: Value = s.get(&format!("/devices/{device}")).json();
    assert_eq!(device_info["storage"]["free"], device_info["storage"]["total"]);

    s.set_state("devices", &device, "offline");
    s.set_state("devices", &device, "failed");
    assert_eq!(s.finish(s.delete(&format!("/devices/{device}"))).status, 204);
    assert!(!vm.sh("/usr/sbin/lvm pvs --noheadings -o pv_name").contains("/dev/vdb"));
    assert_eq!(s.finish(s.delete(&format!("/nodes/{node}"))).status, 204);
    assert_eq!(s.delete(&format!("/clusters/{cluster}")).status, 200);
}

const GIB: u64 = 1024 * 1024 * 1024;
const IQN_PREFIX: &str = "iqn.2016-12.org.gluster-block:";

/// The guest's SCSI disk behind the session to `iqn` (no udev here: the
/// session's report names it), waited for up to 20 s.
fn attached_disk(vm: &Vm, iqn: &str) -> String {
    let disk = vm.sh(&format!(
        "for i in $(seq 100); do d=$(iscsiadm -m session -P 3 2>/dev/null | \
           awk -v t='{iqn}' '$1 == \"Target:\" {{ on = ($2 == t) }} on && /Attached scsi disk/ {{ print $4; exit }}'); \
           [ -n \"$d\" ] && [ -b /dev/$d ] && {{ echo $d; break; }}; sleep 0.2; done"
    ));
    let disk = disk.trim().to_string();
    assert!(!disk.is_empty(), "no disk appeared for {iqn}");
    format!("/dev/{disk}")
}

/// A block volume on a hosting volume of the VM's one node, exported by the
/// gluster-block stand-in as a real LUN through LIO: the guest's initiator
/// logs in with the CHAP secret Brickyard answered, writes through the LUN
/// into the hosting volume's backing file, sees the LUN grow after an
/// expand, and after the delete no target, backstore or loop device is left.
fn block_volume_over_real_iscsi(vm: &Vm, s: &Server, storage: &str) {
    let hosting = s.create_volume(&json!({"size": 3, "block": true, "durability": {"type": "none"}}).to_string());
    let (hv_id, hv) = (
        hosting["id"].as_str().unwrap().to_string(),
        hosting["name"].as_str().unwrap().to_string(),
    );
    let done = s.finish(s.post("/blockvolumes", r#"{"size":1,"name":"vmlun","hacount":1,"auth":true}"#));
    assert_eq!(done.status, 303, "block volume create: {done:?}");
    let block = s.get(&done.location()).json();
    assert_eq!(block["blockhostingvolume"], hv_id.as_str(), "{block}");
    let id = block["id"].as_str().unwrap().to_string();
    let lun = &block["blockvolume"];
    assert_eq!(lun["hosts"], json!([storage]), "{block}");
    let iqn = lun["iqn"].as_str().unwrap().to_string();
    let gbid = iqn.strip_prefix(IQN_PREFIX).expect("gluster-block's IQN").to_string();
    let (user, secret) = (lun["username"].as_str().unwrap(), lun["password"].as_str().unwrap());
    assert_eq!(user, gbid);
    assert!(!secret.is_empty(), "auth on: a CHAP secret");

    // What LIO holds, as targetcli made it.
    let lio = vm.sh(&format!("cat /sys/kernel/config/target/iscsi/{iqn}/tpgt_1/enable"));
    assert_eq!(lio.trim(), "1", "the target's portal group is enabled");

    // The initiator: discovery, CHAP with Brickyard's answer, login.
    let node = format!("iscsiadm -m node -T {iqn} -p {storage}");
    let found = vm.sh(&format!("iscsiadm -m discovery -t sendtargets -p {storage}"));
    assert!(found.contains(&iqn), "{found}");
    vm.sh(&format!(
        "{node} -o update -n node.session.auth.authmethod -v CHAP && \
         {node} -o update -n node.session.auth.username -v {user} && \
         {node} -o update -n node.session.auth.password -v {secret} && {node} --login"
    ));
    let disk = attached_disk(vm, &iqn);
    assert_eq!(vm.sh(&format!("blockdev --getsize64 {disk}")).trim(), GIB.to_string());

    // A MiB written through the LUN is in the hosting volume's backing file.
    vm.sh(&format!(
        "head -c 1048576 /dev/urandom > /tmp/lun.bin && \
         dd if=/tmp/lun.bin of={disk} bs=1M count=1 oflag=direct status=none && sync"
    ));
    let in_volume = |what: &str| {
        vm.sh(&format!(
            "mkdir -p /mnt/bhv && mount -t glusterfs {storage}:/{hv} /mnt/bhv && \
             {{ {what}; r=$?; umount /mnt/bhv; exit $r; }}"
        ))
    };
    let same = in_volume(&format!(
        "cmp -n 1048576 /tmp/lun.bin /mnt/bhv/block-store/{gbid} && echo same"
    ));
    assert_eq!(same.trim(), "same", "the LUN's bytes are in the gluster volume");

    // Expanded through Brickyard: a rescan sees 2 GiB, the data stays.
    let done = s.finish(s.post(&format!("/blockvolumes/{id}/expand"), r#"{"new_size":2}"#));
    assert_eq!(done.status, 303, "expand: {done:?}");
    let grown = vm.sh(&format!(
        "iscsiadm -m session -R >/dev/null && for i in $(seq 50); do \
           [ $(blockdev --getsize64 {disk}) = {} ] && break; sleep 0.2; done; blockdev --getsize64 {disk}",
        2 * GIB
    ));
    assert_eq!(grown.trim(), (2 * GIB).to_string(), "the initiator sees the LUN grown");
    let kept = vm.sh(&format!("cmp -n 1048576 /tmp/lun.bin {disk} && echo same"));
    assert_eq!(kept.trim(), "same");
    // Nothing free on the hosting volume (Heketi omits a zero freesize).
    assert_eq!(
        s.get(&format!("/volumes/{hv_id}")).json()["blockinfo"],
        json!({"reservedsize": 1, "blockvolume": [id]})
    );

    // Logged out and deleted: no target, backstore, loop device or mount.
    vm.sh(&format!("{node} --logout && {node} -o delete"));
    let done = s.finish(s.delete(&format!("/blockvolumes/{id}")));
    assert_eq!(done.status, 204, "delete: {done:?}");
    let left = vm.sh(&format!(
        "ls /sys/kernel/config/target/iscsi | grep -c '^iqn' || true; \
         find /sys/kernel/config/target/core -mindepth 2 -maxdepth 2 -name {gbid} | wc -l; \
         losetup -l -n | wc -l; findmnt -rn -o TARGET | grep -c gluster-block-standin || true"
    ));
    let left: Vec<&str> = left.split_whitespace().collect();
    assert_eq!(
        left,
        ["0", "0", "0", "0"],
        "target, backstore, loop device, export mount left"
    );
    assert_eq!(in_volume("ls -A /mnt/bhv/block-store").trim(), "");
    let done = s.finish(s.delete(&format!("/volumes/{hv_id}")));
    assert_eq!(done.status, 204, "hosting volume delete: {done:?}");
}
