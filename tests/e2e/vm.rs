//! The VM tier: a qemu guest (`scripts/lvm-vm`) with Debian's kernel, so
//! LVM thin pools, thin LVs and gluster snapshots are real, not stood in for.

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
        }})),
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

    s.set_state("devices", &device, "offline");
    s.set_state("devices", &device, "failed");
    assert_eq!(s.finish(s.delete(&format!("/devices/{device}"))).status, 204);
    assert!(!vm.sh("/usr/sbin/lvm pvs --noheadings -o pv_name").contains("/dev/vdb"));
    assert_eq!(s.finish(s.delete(&format!("/nodes/{node}"))).status, 204);
    assert_eq!(s.delete(&format!("/clusters/{cluster}")).status, 200);
}
