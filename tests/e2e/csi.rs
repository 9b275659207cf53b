//! The CSI driver on real GlusterFS: the controller on the host, two node
//! plugins (two node identities) in the client's network namespace with
//! the real mounter, driven over their sockets as the sidecars and kubelet
//! drive them. A volume is made, staged with FUSE and published on both
//! "nodes", written on one and read on the other, grown under its mounts,
//! reported on, broken and reported abnormal, and taken down leaving nothing.
//! A volume made through the old REST API mounts from the PV `brickyard csi
//! pv` prints for it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use brickyard::csi::proto::v1 as csi;
use csi::controller_client::ControllerClient;
use csi::node_client::NodeClient;
use csi::volume_capability::{access_mode::Mode, AccessMode, AccessType, MountVolume};
use serde_json::Value;
use tonic::transport::Channel;

use crate::harness::Server;
use crate::testbed::Testbed;
use crate::{load_topology, node_of_brick, remove_topology, server, volume_body};

const GIB: i64 = 1 << 30;

struct Plugin {
    child: Child,
    channel: Channel,
    socket: PathBuf,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        // The node plugins run under `scripts/testbed client`, whose shell
        // is the child: the driver itself is found by its socket.
        let _ = Command::new("pkill").arg("-f").arg(self.socket.as_os_str()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn connect(rt: &tokio::runtime::Runtime, socket: &Path) -> Channel {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "no socket at {} in 20 s", socket.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    rt.block_on(brickyard::csi::probe::connect(socket)).unwrap()
}

fn start(rt: &tokio::runtime::Runtime, mut command: Command, socket: &Path) -> Plugin {
    let child = command
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start the CSI driver");
    let channel = connect(rt, socket);
    Plugin {
        child,
        channel,
        socket: socket.to_path_buf(),
    }
}

/// The controller plugin on the host, against a server, with its runtime.
pub struct HostController {
    pub rt: tokio::runtime::Runtime,
    plugin: Plugin,
}

impl HostController {
    pub fn start(s: &Server, dir: &Path) -> HostController {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let socket = dir.join("controller.sock");
        let mut command = Command::new(env!("CARGO_BIN_EXE_brickyard"));
        command
            .args(["csi", "--mode", "controller", "--rest-url", &s.base, "--endpoint"])
            .arg(format!("unix://{}", socket.display()));
        let plugin = start(&rt, command, &socket);
        HostController { rt, plugin }
    }

    pub fn client(&self) -> ControllerClient<Channel> {
        ControllerClient::new(self.plugin.channel.clone())
    }

    /// CreateVolume of `name`, cloned from `source` when given.
    pub fn create(&self, name: &str, source: Option<&str>) -> csi::Volume {
        let request = csi::CreateVolumeRequest {
            name: name.into(),
            capacity_range: Some(csi::CapacityRange {
                required_bytes: GIB,
                limit_bytes: 0,
            }),
            volume_capabilities: vec![mount_cap()],
            volume_content_source: source.map(|id| csi::VolumeContentSource {
                r#type: Some(csi::volume_content_source::Type::Volume(
                    csi::volume_content_source::VolumeSource { volume_id: id.into() },
                )),
            }),
            ..Default::default()
        };
        self.rt
            .block_on(self.client().create_volume(request))
            .unwrap()
            .into_inner()
            .volume
            .unwrap()
    }

    pub fn delete(&self, id: &str) {
        self.rt
            .block_on(self.client().delete_volume(csi::DeleteVolumeRequest {
                volume_id: id.into(),
                ..Default::default()
            }))
            .unwrap();
    }
}

fn mount_cap() -> csi::VolumeCapability {
    csi::VolumeCapability {
        access_mode: Some(AccessMode {
            mode: Mode::MultiNodeMultiWriter as i32,
        }),
        access_type: Some(AccessType::Mount(MountVolume::default())),
    }
}

/// Whether anything is mounted at or under `dir`.
fn mounted_under(dir: &Path) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = dir.to_string_lossy().into_owned();
    table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&dir))
        .map(str::to_string)
        .collect()
}

struct Node<'a> {
    rt: &'a tokio::runtime::Runtime,
    client: NodeClient<Channel>,
    staging: PathBuf,
}

impl Node<'_> {
    fn stage(&mut self, id: &str, context: &HashMap<String, String>) {
        let req = csi::NodeStageVolumeRequest {
            volume_id: id.into(),
            staging_target_path: self.staging.display().to_string(),
            volume_capability: Some(mount_cap()),
            volume_context: context.clone(),
            ..Default::default()
        };
        self.rt.block_on(self.client.node_stage_volume(req)).unwrap();
    }

    fn publish(&mut self, id: &str, target: &Path) {
        let req = csi::NodePublishVolumeRequest {
            volume_id: id.into(),
            staging_target_path: self.staging.display().to_string(),
            target_path: target.display().to_string(),
            volume_capability: Some(mount_cap()),
            ..Default::default()
        };
        self.rt.block_on(self.client.node_publish_volume(req)).unwrap();
    }

    fn stats(&mut self, id: &str, path: &Path) -> csi::NodeGetVolumeStatsResponse {
        let req = csi::NodeGetVolumeStatsRequest {
            volume_id: id.into(),
            volume_path: path.display().to_string(),
            staging_target_path: self.staging.display().to_string(),
        };
        self.rt
            .block_on(self.client.node_get_volume_stats(req))
            .unwrap()
            .into_inner()
    }

    fn take_down(&mut self, id: &str, target: &Path) {
        self.rt
            .block_on(self.client.node_unpublish_volume(csi::NodeUnpublishVolumeRequest {
                volume_id: id.into(),
                target_path: target.display().to_string(),
            }))
            .unwrap();
        self.rt
            .block_on(self.client.node_unstage_volume(csi::NodeUnstageVolumeRequest {
                volume_id: id.into(),
                staging_target_path: self.staging.display().to_string(),
            }))
            .unwrap();
    }
}

fn bytes_total(stats: &csi::NodeGetVolumeStatsResponse) -> i64 {
    stats
        .usage
        .iter()
        .find(|u| u.unit == csi::volume_usage::Unit::Bytes as i32)
        .map(|u| u.total)
        .unwrap_or(0)
}

/// A node plugin named `name` in the client's network namespace, where
/// the storage nodes are reachable; its mounts land in this mount namespace.
fn node_plugin(tb: &Testbed, rt: &tokio::runtime::Runtime, dir: &Path, name: &str) -> Plugin {
    let socket = dir.join(format!("{name}.sock"));
    let endpoint = format!("unix://{}", socket.display());
    let bin = env!("CARGO_BIN_EXE_brickyard");
    let command = tb.client_command(&[bin, "csi", "--mode", "node", "--node-id", name, "--endpoint", &endpoint]);
    start(rt, command, &socket)
}

/// The scene both scenarios start from: a server with the testbed's
/// topology, a directory for sockets and mounts, and the controller.
fn scene(tb: &Testbed, dir: &str) -> (Server, PathBuf, HostController) {
    let s = server(tb);
    load_topology(tb, &s);
    let dir = tb.mount_dir(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let controller = HostController::start(&s, &dir);
    (s, dir, controller)
}

pub fn volume_through_csi(tb: &Testbed) {
    let (s, dir, controller) = scene(tb, "csi");
    let rt = &controller.rt;
    let bin = env!("CARGO_BIN_EXE_brickyard");
    let (plugin_a, plugin_b) = (node_plugin(tb, rt, &dir, "node-a"), node_plugin(tb, rt, &dir, "node-b"));
    let mut ctl = controller.client();
    let volume = controller.create("pvc-e2e", None);
    let id = volume.volume_id.clone();
    let info = s.get(&format!("/volumes/{id}")).json();
    let name = info["name"].as_str().unwrap().to_string();
    let gluster = tb.sh(1, &format!("gluster --mode=script volume info {name}"));
    assert!(gluster.contains("Number of Bricks: 1 x 3 = 3"), "{gluster}");

    let mut a = Node {
        rt,
        client: NodeClient::new(plugin_a.channel.clone()),
        staging: dir.join("stage-a"),
    };
    let mut b = Node {
        rt,
        client: NodeClient::new(plugin_b.channel.clone()),
        staging: dir.join("stage-b"),
    };
    let (pod_a, pod_b) = (dir.join("pod-a"), dir.join("pod-b"));
    a.stage(&id, &volume.volume_context);
    a.stage(&id, &volume.volume_context);
    a.publish(&id, &pod_a);
    // Written on one node, on every brick, read on the other (RWX).
    let payload = "written through the CSI node plugin\n";
    std::fs::write(pod_a.join("hello.txt"), payload).unwrap();
    for brick in info["bricks"].as_array().unwrap() {
        let node = node_of_brick(tb, &s, brick);
        let stored = tb.sh(node, &format!("cat {}/hello.txt", brick["path"].as_str().unwrap()));
        assert_eq!(stored, payload, "file on node {node}'s brick");
    }
    b.stage(&id, &volume.volume_context);
    b.publish(&id, &pod_b);
    assert_eq!(std::fs::read_to_string(pod_b.join("hello.txt")).unwrap(), payload);

    // Real usage; grown under the mounts, the file system shows it.
    std::fs::write(pod_a.join("one-mib"), vec![7u8; 1 << 20]).unwrap();
    let before = a.stats(&id, &pod_a);
    assert!(!before.volume_condition.as_ref().unwrap().abnormal);
    let used = before
        .usage
        .iter()
        .find(|u| u.unit == csi::volume_usage::Unit::Bytes as i32)
        .unwrap()
        .used;
    assert!(used >= 1 << 20, "{before:?}");
    let grown = rt
        .block_on(ctl.controller_expand_volume(csi::ControllerExpandVolumeRequest {
            volume_id: id.clone(),
            capacity_range: Some(csi::CapacityRange {
                required_bytes: 2 * GIB,
                limit_bytes: 0,
            }),
            ..Default::default()
        }))
        .unwrap()
        .into_inner();
    assert_eq!(grown.capacity_bytes, 2 * GIB);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let total = bytes_total(&a.stats(&id, &pod_a));
        if total > bytes_total(&before) * 3 / 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the mount never showed the new size: {total}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // The volume stops: its mounts stop answering, and the plugin says so.
    tb.sh(1, &format!("gluster --mode=script volume stop {name} force"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let condition = a.stats(&id, &dir.join("stage-a")).volume_condition.unwrap();
        if condition.abnormal {
            break;
        }
        assert!(Instant::now() < deadline, "the stopped volume still reads as healthy");
        std::thread::sleep(Duration::from_millis(500));
    }
    tb.sh(1, &format!("gluster --mode=script volume start {name}"));

    a.take_down(&id, &pod_a);
    b.take_down(&id, &pod_b);
    assert!(mounted_under(&dir).is_empty(), "{:?}", mounted_under(&dir));
    assert!(!pod_a.exists() && !pod_b.exists());

    // A volume made through the old API mounts from its printed PV.
    let old = s.create_volume(&volume_body(1, 3, 2002));
    let old_id = old["id"].as_str().unwrap().to_string();
    let old_name = old["name"].as_str().unwrap().to_string();
    let direct = tb.fuse_mount(&old_name, 1);
    std::fs::write(direct.join("kept.txt"), "made before CSI\n").unwrap();
    assert!(Command::new("umount").arg(&direct).status().unwrap().success());
    let printed = Command::new(bin)
        .args(["csi", "pv", "--server", &s.base, &old_id])
        .output()
        .unwrap();
    assert!(printed.status.success(), "{printed:?}");
    let list: Value = serde_json::from_slice(&printed.stdout).unwrap();
    let pv = &list["items"][0];
    assert_eq!(pv["spec"]["csi"]["volumeHandle"], old_id.as_str());
    assert_eq!(pv["metadata"]["annotations"]["pv.beta.kubernetes.io/gid"], "2002");
    let context: HashMap<String, String> =
        serde_json::from_value(pv["spec"]["csi"]["volumeAttributes"].clone()).unwrap();
    let pod_old = dir.join("pod-old");
    a.stage(&old_id, &context);
    a.publish(&old_id, &pod_old);
    assert_eq!(
        std::fs::read_to_string(pod_old.join("kept.txt")).unwrap(),
        "made before CSI\n"
    );
    a.take_down(&old_id, &pod_old);

    for gone in [&id, &old_id] {
        controller.delete(gone);
    }
    assert!(mounted_under(&dir).is_empty());
    // gluster prints its "No volumes present" on stderr: stdout lists none.
    let left = tb.sh(1, "gluster --mode=script volume list");
    assert!(left.trim().is_empty(), "gluster still has: {left}");
    drop((plugin_a, plugin_b, controller));
    // The FUSE clients' per-volume logs stay, as logs do; the testbed wants
    // its host as it was.
    for volume in [name.as_str(), old_name.as_str()] {
        let _ = std::fs::remove_file(format!("/var/log/glusterfs/brickyard-{volume}.log"));
    }
    remove_topology(tb, &s);
}

/// The driver's cost on real nodes, printed for the README (measured, not
/// asserted): sequential replica-3 creates through the REST API and
/// through CreateVolume, alternating, and NodeStage and NodePublish.
pub fn overhead(tb: &Testbed) {
    const ROUNDS: usize = 6;
    let (s, dir, controller) = scene(tb, "csi-bench");
    let rt = &controller.rt;
    let plugin = node_plugin(tb, rt, &dir, "bench");
    let mut node = Node {
        rt,
        client: NodeClient::new(plugin.channel.clone()),
        staging: dir.join("stage"),
    };
    // The controller reads the server's volumes once, at its first call.
    let first = controller.create("pvc-warm-up", None);
    controller.delete(&first.volume_id);
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    let (mut rest, mut through_csi, mut stage, mut publish) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut names = Vec::new();
    for round in 0..ROUNDS {
        let t = Instant::now();
        let made = s.create_volume(&volume_body(1, 3, 0));
        rest.push(ms(t));
        assert_eq!(
            s.finish(s.delete(&format!("/volumes/{}", made["id"].as_str().unwrap())))
                .status,
            204
        );

        let t = Instant::now();
        let volume = controller.create(&format!("pvc-bench-{round}"), None);
        through_csi.push(ms(t));
        let target = dir.join("pod");
        let t = Instant::now();
        node.stage(&volume.volume_id, &volume.volume_context);
        stage.push(ms(t));
        let t = Instant::now();
        node.publish(&volume.volume_id, &target);
        publish.push(ms(t));
        std::fs::write(target.join("usable"), "yes").unwrap();
        assert!(bytes_total(&node.stats(&volume.volume_id, &target)) > 0);
        node.take_down(&volume.volume_id, &target);
        names.push(volume.volume_context["name"].clone());
        controller.delete(&volume.volume_id);
    }
    let (rest, through_csi) = (crate::median(rest), crate::median(through_csi));
    println!(
        "  {ROUNDS} replica-3 1 GiB creates each way: REST (POST to 303) median {rest:.0} ms, \
         CreateVolume median {through_csi:.0} ms, driver overhead {:.0} ms ({:.1} %); \
         NodeStageVolume (FUSE mount) median {:.0} ms, NodePublishVolume (bind mount) median {:.1} ms",
        through_csi - rest,
        100.0 * (through_csi - rest) / rest,
        crate::median(stage),
        crate::median(publish),
    );
    assert!(mounted_under(&dir).is_empty(), "{:?}", mounted_under(&dir));
    drop(plugin);
    drop(controller);
    for volume in names {
        let _ = std::fs::remove_file(format!("/var/log/glusterfs/brickyard-{volume}.log"));
    }
    remove_topology(tb, &s);
}
