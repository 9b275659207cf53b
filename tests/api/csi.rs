//! The CSI driver driven over its unix socket as the kubernetes-csi
//! sidecars and kubelet drive it, against a Brickyard server with the mock
//! executor. The node's mounts are the driver's recorded stand-in (no FUSE
//! here); real mounts are in the e2e suite. The expectations are the CSI
//! specification's rules for each RPC (docs/csi-spec-notes.md).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use brickyard::csi::proto::v1 as csi;
use csi::controller_client::ControllerClient;
use csi::identity_client::IdentityClient;
use csi::node_client::NodeClient;
use csi::volume_capability::{access_mode::Mode, AccessMode, AccessType, BlockVolume, MountVolume};
use serde_json::{json, Value};
use tonic::transport::Channel;
use tonic::Code;

use crate::harness::Server;

const GIB: i64 = 1 << 30;

struct Driver {
    child: Child,
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    channel: Channel,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start(s: &Server) -> Driver {
        Driver::start_with(Some(s))
    }

    /// A driver with the server as its REST default, or with none.
    fn start_with(rest: Option<&Server>) -> Driver {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("csi.sock");
        let mut command = Command::new(env!("CARGO_BIN_EXE_brickyard"));
        command.args(["csi", "--mode", "all", "--node-id", "node-a"]);
        if let Some(s) = rest {
            command.arg("--rest-url").arg(&s.base);
        }
        let child = command
            .arg("--endpoint")
            .arg(format!("unix://{}", socket.display()))
            .arg("--recorded-mounts")
            .arg(dir.path().join("mounts.json"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the CSI driver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "the driver did not listen in 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        let rt = tokio::runtime::Runtime::new().unwrap();
        let channel = rt
            .block_on(brickyard::csi::probe::connect(&socket))
            .expect("connect to the driver's socket");
        Driver {
            child,
            dir,
            rt,
            channel,
        }
    }

    fn controller(&self) -> ControllerClient<Channel> {
        ControllerClient::new(self.channel.clone())
    }

    fn node(&self) -> NodeClient<Channel> {
        NodeClient::new(self.channel.clone())
    }

    fn identity(&self) -> IdentityClient<Channel> {
        IdentityClient::new(self.channel.clone())
    }

    fn run<T>(
        &self,
        f: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, tonic::Status> {
        self.rt.block_on(f).map(tonic::Response::into_inner)
    }

    fn mounts(&self) -> HashMap<String, Value> {
        let table = self.dir.path().join("mounts.json");
        std::fs::read(&table)
            .ok()
            .map(|b| serde_json::from_slice(&b).unwrap())
            .unwrap_or_default()
    }

    /// How many GlusterFS mounts the node has made.
    fn mounts_log(&self) -> usize {
        let mut log = self.dir.path().join("mounts.json").into_os_string();
        log.push(".log");
        std::fs::read_to_string(log).unwrap_or_default().lines().count()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn mount_cap(mode: Mode) -> csi::VolumeCapability {
    csi::VolumeCapability {
        access_mode: Some(AccessMode { mode: mode as i32 }),
        access_type: Some(AccessType::Mount(MountVolume::default())),
    }
}

fn create_request(name: &str, bytes: i64, params: &[(&str, &str)]) -> csi::CreateVolumeRequest {
    csi::CreateVolumeRequest {
        name: name.into(),
        capacity_range: Some(csi::CapacityRange {
            required_bytes: bytes,
            limit_bytes: 0,
        }),
        volume_capabilities: vec![mount_cap(Mode::MultiNodeMultiWriter)],
        parameters: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    }
}

fn volumes(s: &Server) -> Vec<String> {
    s.get("/volumes").json()["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn assert_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, names: &str) {
    let status = result.expect_err("the call must fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(names),
        "{names:?} not in {:?}",
        status.message()
    );
}

#[test]
fn identity_and_capabilities() {
    let s = Server::start();
    let d = Driver::start(&s);
    let info = d
        .run(d.identity().get_plugin_info(csi::GetPluginInfoRequest {}))
        .unwrap();
    assert_eq!(info.name, "brickyard.gluster.org");
    assert!(!info.vendor_version.is_empty());
    assert_eq!(
        d.run(d.identity().probe(csi::ProbeRequest {})).unwrap().ready,
        Some(true)
    );
    let caps = d
        .run(
            d.identity()
                .get_plugin_capabilities(csi::GetPluginCapabilitiesRequest {}),
        )
        .unwrap();
    assert_eq!(caps.capabilities.len(), 2, "{caps:?}");
    let controller = d
        .run(
            d.controller()
                .controller_get_capabilities(csi::ControllerGetCapabilitiesRequest {}),
        )
        .unwrap();
    assert_eq!(controller.capabilities.len(), 5);
    let node = d
        .run(d.node().node_get_capabilities(csi::NodeGetCapabilitiesRequest {}))
        .unwrap();
    assert_eq!(node.capabilities.len(), 3);
    assert_eq!(
        d.run(d.node().node_get_info(csi::NodeGetInfoRequest {}))
            .unwrap()
            .node_id,
        "node-a"
    );
    // `brickyard csi probe`, the containers' liveness check.
    let probe = |socket: &Path| {
        Command::new(env!("CARGO_BIN_EXE_brickyard"))
            .args(["csi", "probe", "--timeout", "10", "--endpoint"])
            .arg(format!("unix://{}", socket.display()))
            .output()
            .unwrap()
    };
    let ready = probe(&d.path("csi.sock"));
    assert!(ready.status.success(), "{ready:?}");
    let said = String::from_utf8_lossy(&ready.stdout);
    assert!(
        said.starts_with("brickyard.gluster.org ") && said.trim_end().ends_with(" ready"),
        "{said}"
    );
    let absent = probe(&d.path("nothing.sock"));
    assert!(!absent.status.success());
    assert!(
        String::from_utf8_lossy(&absent.stderr).contains("cannot connect to"),
        "{absent:?}"
    );
}

#[test]
fn create_is_idempotent_by_name_and_delete_by_id() {
    let s = Server::start();
    s.topology(3, 1);
    let d = Driver::start(&s);
    let made = d
        .run(d.controller().create_volume(create_request("pvc-1", 3 * GIB + 1, &[])))
        .unwrap()
        .volume
        .unwrap();
    assert_eq!(made.capacity_bytes, 4 * GIB, "rounded up to whole GiB");
    let info = s.get(&format!("/volumes/{}", made.volume_id)).json();
    assert_eq!(info["name"], "pvc-1");
    assert_eq!(info["durability"]["replicate"]["replica"], 3, "replicate 3 by default");
    assert_eq!(info["gid"], 2000, "the first GID of the default range");
    assert_eq!(made.volume_context["gid"], "2000");
    assert_eq!(made.volume_context["name"], "pvc-1");
    // The same name again: the same volume.
    let again = d
        .run(d.controller().create_volume(create_request("pvc-1", 2 * GIB, &[])))
        .unwrap()
        .volume
        .unwrap();
    assert_eq!(again, made);
    assert_eq!(volumes(&s).len(), 1);
    // The same name with a capacity it does not fit: ALREADY_EXISTS.
    assert_code(
        d.run(d.controller().create_volume(create_request("pvc-1", 10 * GIB, &[]))),
        Code::AlreadyExists,
        "pvc-1",
    );
    // A second volume gets the next GID.
    let second = d
        .run(d.controller().create_volume(create_request("pvc-2", GIB, &[])))
        .unwrap()
        .volume
        .unwrap();
    assert_eq!(second.volume_context["gid"], "2001");
    for id in [&made.volume_id, &made.volume_id, &second.volume_id] {
        d.run(d.controller().delete_volume(csi::DeleteVolumeRequest {
            volume_id: id.clone(),
            ..Default::default()
        }))
        .unwrap();
    }
    assert!(volumes(&s).is_empty());
    // Unknown ids are success too.
    d.run(d.controller().delete_volume(csi::DeleteVolumeRequest {
        volume_id: "0123456789abcdef0123456789abcdef".into(),
        ..Default::default()
    }))
    .unwrap();
    s.assert_consistent();
}

#[test]
fn concurrent_creates_of_one_name_make_one_volume() {
    let s = Server::start();
    s.topology(3, 1);
    let d = Driver::start(&s);
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let mut c = d.controller();
            d.rt.spawn(async move { c.create_volume(create_request("pvc-race", GIB, &[])).await })
        })
        .collect();
    let ids: Vec<String> = calls
        .into_iter()
        .map(|h| {
            d.rt.block_on(h)
                .unwrap()
                .unwrap()
                .into_inner()
                .volume
                .unwrap()
                .volume_id
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    assert_eq!(volumes(&s), [ids[0].clone()]);
    s.assert_consistent();
}

#[test]
fn storage_class_parameters_reach_the_volume() {
    let s = Server::start();
    let (cluster, _) = s.topology(3, 1);
    let d = Driver::start(&s);
    let made = d
        .run(d.controller().create_volume(create_request(
            "pvc-0a1b2c3d",
            GIB,
            &[
                ("clusterid", &cluster),
                ("volumetype", "replicate:2"),
                ("gidMin", "40000"),
                ("gidMax", "40010"),
                ("volumeoptions", "performance.rda-cache-limit 10MB"),
                ("volumenameprefix", "dept"),
                ("snapfactor", "2"),
                ("csi.storage.k8s.io/pvc/name", "data"),
                ("csi.storage.k8s.io/pvc/namespace", "team"),
            ],
        )))
        .unwrap()
        .volume
        .unwrap();
    let info = s.get(&format!("/volumes/{}", made.volume_id)).json();
    assert_eq!(info["name"], "dept_team_data_0a1b2c3d");
    assert_eq!(info["cluster"], cluster.as_str());
    assert_eq!(info["durability"]["replicate"]["replica"], 2);
    assert_eq!(info["gid"], 40000);
    assert_eq!(info["snapshot"]["factor"], 2.0);
    // Between the server's (empty) pre and post options, as Heketi lists them.
    assert_eq!(
        info["glustervolumeoptions"],
        serde_json::json!(["", "performance.rda-cache-limit 10MB", ""])
    );
    s.assert_consistent();
}

#[test]
fn bad_requests_get_the_specifications_codes_and_leave_nothing() {
    let s = Server::start();
    s.topology(3, 1);
    let d = Driver::start(&s);
    let mut c = d.controller();
    assert_code(
        d.run(c.create_volume(create_request("", GIB, &[]))),
        Code::InvalidArgument,
        "name",
    );
    let mut no_caps = create_request("pvc-x", GIB, &[]);
    no_caps.volume_capabilities.clear();
    assert_code(
        d.run(c.create_volume(no_caps)),
        Code::InvalidArgument,
        "volume_capabilities",
    );
    let mut block = create_request("pvc-x", GIB, &[]);
    block.volume_capabilities[0].access_type = Some(AccessType::Block(BlockVolume {}));
    assert_code(d.run(c.create_volume(block)), Code::InvalidArgument, "raw block");
    for (params, names) in [
        (vec![("volumetype", "mirror")], "volumetype"),
        (vec![("gidMin", "5")], "gidMin"),
        (vec![("nonsense", "1")], "nonsense"),
        (vec![("snapfactor", "500")], "snapfactor"),
    ] {
        assert_code(
            d.run(c.create_volume(create_request("pvc-x", GIB, &params))),
            Code::InvalidArgument,
            names,
        );
    }
    let mut limited = create_request("pvc-x", GIB + 1, &[]);
    limited.capacity_range = Some(csi::CapacityRange {
        required_bytes: GIB + 1,
        limit_bytes: GIB + 2,
    });
    assert_code(d.run(c.create_volume(limited)), Code::OutOfRange, "limit_bytes");
    // Brickyard's "No space", with its explanation.
    assert_code(
        d.run(c.create_volume(create_request("pvc-huge", 100_000 * GIB, &[]))),
        Code::ResourceExhausted,
        "No space",
    );
    // A volume Brickyard refuses (replica 5) is the server's 400.
    assert_code(
        d.run(c.create_volume(create_request("pvc-x", GIB, &[("volumetype", "replicate:5")]))),
        Code::InvalidArgument,
        "replica",
    );
    assert_code(
        d.run(c.delete_volume(csi::DeleteVolumeRequest::default())),
        Code::InvalidArgument,
        "volume_id",
    );
    assert!(volumes(&s).is_empty(), "nothing half-made");
    s.assert_consistent();
}

#[test]
fn an_unreachable_server_is_unavailable() {
    let s = Server::start();
    let d = Driver::start(&s);
    let mut c = d.controller();
    let mut req = create_request("pvc-1", GIB, &[("resturl", "http://127.0.0.1:9")]);
    req.parameters.insert("restauthenabled".into(), "false".into());
    assert_code(d.run(c.create_volume(req)), Code::Unavailable, "127.0.0.1:9");
}

#[test]
fn expand_clone_validate_capacity_and_list() {
    let s = Server::start();
    s.topology(3, 1);
    let d = Driver::start(&s);
    let mut c = d.controller();
    let made = d
        .run(c.create_volume(create_request("pvc-a", GIB, &[])))
        .unwrap()
        .volume
        .unwrap();
    let id = made.volume_id.clone();
    let expand = |bytes: i64| csi::ControllerExpandVolumeRequest {
        volume_id: id.clone(),
        capacity_range: Some(csi::CapacityRange {
            required_bytes: bytes,
            limit_bytes: 0,
        }),
        ..Default::default()
    };
    let grown = d.run(c.controller_expand_volume(expand(3 * GIB))).unwrap();
    assert_eq!((grown.capacity_bytes, grown.node_expansion_required), (3 * GIB, false));
    assert_eq!(s.get(&format!("/volumes/{id}")).json()["size"], 3);
    // Already that big: nothing to do.
    assert_eq!(
        d.run(c.controller_expand_volume(expand(2 * GIB)))
            .unwrap()
            .capacity_bytes,
        3 * GIB
    );
    let mut gone = expand(GIB);
    gone.volume_id = "0123456789abcdef0123456789abcdef".into();
    assert_code(
        d.run(c.controller_expand_volume(gone)),
        Code::NotFound,
        "0123456789abcdef",
    );
    // A clone from the volume; it has the source's size, which the range
    // must allow, and a source that does not exist is NOT_FOUND.
    let from = |name: &str, source: &str, limit: i64| {
        let mut from = create_request(name, GIB, &[]);
        from.capacity_range.as_mut().unwrap().limit_bytes = limit;
        from.volume_content_source = Some(csi::VolumeContentSource {
            r#type: Some(csi::volume_content_source::Type::Volume(
                csi::volume_content_source::VolumeSource {
                    volume_id: source.into(),
                },
            )),
        });
        from
    };
    let before = volumes(&s).len();
    assert_code(
        d.run(c.create_volume(from("pvc-small", &id, 2 * GIB))),
        Code::OutOfRange,
        "limit_bytes",
    );
    for missing in ["0123456789abcdef0123456789abcdef", "../clusters"] {
        assert_code(
            d.run(c.create_volume(from("pvc-x", missing, 0))),
            Code::NotFound,
            "does not exist",
        );
    }
    assert_eq!(volumes(&s).len(), before, "a refused clone leaves no volume");
    let clone = d.run(c.create_volume(from("pvc-b", &id, 0))).unwrap().volume.unwrap();
    assert_ne!(clone.volume_id, id);
    assert_eq!(clone.capacity_bytes, 3 * GIB);
    assert!(clone.content_source.is_some());
    // Validation confirms mounts, not raw block.
    let validate = |caps: Vec<csi::VolumeCapability>| csi::ValidateVolumeCapabilitiesRequest {
        volume_id: id.clone(),
        volume_capabilities: caps,
        ..Default::default()
    };
    let ok = d
        .run(c.validate_volume_capabilities(validate(vec![mount_cap(Mode::MultiNodeMultiWriter)])))
        .unwrap();
    assert!(ok.confirmed.is_some());
    let mut block = mount_cap(Mode::SingleNodeWriter);
    block.access_type = Some(AccessType::Block(BlockVolume {}));
    let no = d.run(c.validate_volume_capabilities(validate(vec![block]))).unwrap();
    assert!(no.confirmed.is_none() && no.message.contains("raw block"), "{no:?}");
    // Capacity: the free space of three devices, one copy of three.
    let capacity = d.run(c.get_capacity(csi::GetCapacityRequest::default())).unwrap();
    assert!(capacity.available_capacity > 0);
    // ListVolumes pages with tokens; a bad token is ABORTED.
    d.run(c.create_volume(create_request("pvc-c", GIB, &[]))).unwrap();
    let mut seen = Vec::new();
    let mut token = String::new();
    for _ in 0..10 {
        let page = d
            .run(c.list_volumes(csi::ListVolumesRequest {
                max_entries: 2,
                starting_token: token.clone(),
            }))
            .unwrap();
        assert!(page.entries.len() <= 2);
        seen.extend(page.entries.into_iter().map(|e| e.volume.unwrap().volume_id));
        if page.next_token.is_empty() {
            break;
        }
        token = page.next_token;
    }
    let mut all = volumes(&s);
    all.sort();
    assert_eq!(seen, all);
    assert_code(
        d.run(c.list_volumes(csi::ListVolumesRequest {
            max_entries: 1,
            starting_token: "not-a-token".into(),
        })),
        Code::Aborted,
        "starting_token",
    );
    s.assert_consistent();
}

#[test]
fn stage_publish_and_back_on_one_node() {
    let s = Server::start();
    s.topology(3, 1);
    let d = Driver::start(&s);
    let made = d
        .run(d.controller().create_volume(create_request("pvc-n", GIB, &[])))
        .unwrap()
        .volume
        .unwrap();
    let staging = d.path("staging");
    let target = d.path("pods/uid/volumes/mount");
    let stage = csi::NodeStageVolumeRequest {
        volume_id: made.volume_id.clone(),
        staging_target_path: staging.display().to_string(),
        volume_capability: Some(mount_cap(Mode::MultiNodeMultiWriter)),
        volume_context: made.volume_context.clone(),
        ..Default::default()
    };
    let mut n = d.node();
    d.run(n.node_stage_volume(stage.clone())).unwrap();
    d.run(n.node_stage_volume(stage.clone())).unwrap();
    let mounts = d.mounts();
    let staged = &mounts[&staging.display().to_string()];
    let info = s.get(&format!("/volumes/{}", made.volume_id)).json();
    assert_eq!(
        staged["source"],
        info["mount"]["glusterfs"]["device"]
            .as_str()
            .unwrap()
            .replacen(':', ":/", 1)
    );
    assert!(
        staged["options"].as_str().unwrap().contains("backup-volfile-servers="),
        "{staged}"
    );
    let publish = |path: &Path, readonly: bool| csi::NodePublishVolumeRequest {
        volume_id: made.volume_id.clone(),
        staging_target_path: staging.display().to_string(),
        target_path: path.display().to_string(),
        volume_capability: Some(mount_cap(Mode::MultiNodeMultiWriter)),
        readonly,
        ..Default::default()
    };
    d.run(n.node_publish_volume(publish(&target, false))).unwrap();
    d.run(n.node_publish_volume(publish(&target, false))).unwrap();
    assert!(target.is_dir(), "the plugin makes the target");
    assert_code(
        d.run(n.node_publish_volume(publish(&target, true))),
        Code::AlreadyExists,
        "published",
    );
    // A second pod on the node, read-only.
    let second = d.path("pods/uid2/volumes/mount");
    d.run(n.node_publish_volume(publish(&second, true))).unwrap();
    assert_eq!(d.mounts()[&second.display().to_string()]["readonly"], true);
    // Stats from the mount; a volume that went away is abnormal.
    let stats = |path: &Path| csi::NodeGetVolumeStatsRequest {
        volume_id: made.volume_id.clone(),
        volume_path: path.display().to_string(),
        staging_target_path: String::new(),
    };
    let healthy = d.run(n.node_get_volume_stats(stats(&target))).unwrap();
    assert!(!healthy.volume_condition.unwrap().abnormal);
    assert!(healthy.usage.iter().all(|u| u.total > 0));
    let mut stale = d.path("mounts.json").into_os_string();
    stale.push(".stale");
    std::fs::write(&stale, format!("{}\n", staged["source"].as_str().unwrap())).unwrap();
    let sick = d.run(n.node_get_volume_stats(stats(&staging))).unwrap();
    let condition = sick.volume_condition.unwrap();
    assert!(
        condition.abnormal && condition.message.contains("no longer answers"),
        "{condition:?}"
    );
    // Staging a stale mount again mounts it again rather than answering OK.
    let log = d.mounts_log();
    d.run(n.node_stage_volume(stage.clone())).unwrap();
    assert_eq!(d.mounts_log(), log + 1, "the stale mount was mounted again");
    std::fs::remove_file(&stale).unwrap();
    d.run(n.node_stage_volume(stage.clone())).unwrap();
    assert_eq!(d.mounts_log(), log + 1, "a healthy staged mount is left as it is");
    assert_code(
        d.run(n.node_get_volume_stats(stats(&d.path("nowhere")))),
        Code::NotFound,
        "nowhere",
    );
    for path in [&target, &second, &target] {
        d.run(n.node_unpublish_volume(csi::NodeUnpublishVolumeRequest {
            volume_id: made.volume_id.clone(),
            target_path: path.display().to_string(),
        }))
        .unwrap();
        assert!(!path.exists(), "the target directory is removed");
    }
    for _ in 0..2 {
        d.run(n.node_unstage_volume(csi::NodeUnstageVolumeRequest {
            volume_id: made.volume_id.clone(),
            staging_target_path: staging.display().to_string(),
        }))
        .unwrap();
    }
    assert!(d.mounts().is_empty(), "{:?}", d.mounts());
}

#[test]
fn node_calls_refuse_what_they_cannot_do() {
    let s = Server::start();
    let d = Driver::start(&s);
    let mut n = d.node();
    let good = csi::NodeStageVolumeRequest {
        volume_id: "v".into(),
        staging_target_path: d.path("staging").display().to_string(),
        volume_capability: Some(mount_cap(Mode::SingleNodeWriter)),
        volume_context: HashMap::from([
            ("name".to_string(), "vol_1".to_string()),
            ("server".to_string(), "10.0.0.1".to_string()),
        ]),
        ..Default::default()
    };
    let mut no_path = good.clone();
    no_path.staging_target_path.clear();
    assert_code(
        d.run(n.node_stage_volume(no_path)),
        Code::InvalidArgument,
        "staging_target_path",
    );
    let mut relative = good.clone();
    relative.staging_target_path = "staging".into();
    assert_code(d.run(n.node_stage_volume(relative)), Code::InvalidArgument, "absolute");
    let mut hostile = good.clone();
    hostile
        .volume_context
        .insert("server".into(), "10.0.0.1 -o exec".into());
    assert_code(d.run(n.node_stage_volume(hostile)), Code::InvalidArgument, "server");
    let mut flags = good.clone();
    flags.volume_capability = Some(csi::VolumeCapability {
        access_mode: Some(AccessMode {
            mode: Mode::SingleNodeWriter as i32,
        }),
        access_type: Some(AccessType::Mount(MountVolume {
            mount_flags: vec!["ro,exec".into()],
            ..Default::default()
        })),
    });
    assert_code(d.run(n.node_stage_volume(flags)), Code::InvalidArgument, "mount_flags");
    let publish = csi::NodePublishVolumeRequest {
        volume_id: "v".into(),
        staging_target_path: d.path("staging").display().to_string(),
        target_path: d.path("target").display().to_string(),
        volume_capability: Some(mount_cap(Mode::SingleNodeWriter)),
        ..Default::default()
    };
    assert_code(
        d.run(n.node_publish_volume(publish.clone())),
        Code::FailedPrecondition,
        "not staged",
    );
    let mut unstaged = publish;
    unstaged.staging_target_path.clear();
    assert_code(
        d.run(n.node_publish_volume(unstaged)),
        Code::FailedPrecondition,
        "staging_target_path",
    );
    assert!(d.mounts().is_empty());
}

#[test]
fn a_static_pv_with_only_its_id_is_looked_up_and_ids_naming_nothing_are_not_found() {
    let s = Server::start();
    s.topology(3, 1);
    let made = s.create_volume(r#"{"size": 1, "gid": 2001}"#);
    let id = made["id"].as_str().unwrap().to_string();
    let d = Driver::start(&s);
    let mut n = d.node();
    let staging = d.path("staging");
    // A hand-written PV: the volume handle and nothing else.
    let stage = |volume_id: &str| csi::NodeStageVolumeRequest {
        volume_id: volume_id.into(),
        staging_target_path: staging.display().to_string(),
        volume_capability: Some(mount_cap(Mode::MultiNodeMultiWriter)),
        ..Default::default()
    };
    d.run(n.node_stage_volume(stage(&id))).unwrap();
    let device = made["mount"]["glusterfs"]["device"]
        .as_str()
        .unwrap()
        .replacen(':', ":/", 1);
    assert_eq!(d.mounts()[&staging.display().to_string()]["source"], device.as_str());
    d.run(n.node_unstage_volume(csi::NodeUnstageVolumeRequest {
        volume_id: id.clone(),
        staging_target_path: staging.display().to_string(),
    }))
    .unwrap();
    // Ids that name no volume: unknown, not an id, or a path in disguise.
    for bad in ["0123456789abcdef0123456789abcdef", "some-vol-id", "../clusters", "a?b"] {
        assert_code(d.run(n.node_stage_volume(stage(bad))), Code::NotFound, bad);
        let mut c = d.controller();
        assert_code(
            d.run(c.validate_volume_capabilities(csi::ValidateVolumeCapabilitiesRequest {
                volume_id: bad.into(),
                volume_capabilities: vec![mount_cap(Mode::SingleNodeWriter)],
                ..Default::default()
            })),
            Code::NotFound,
            bad,
        );
        assert_code(
            d.run(c.controller_expand_volume(csi::ControllerExpandVolumeRequest {
                volume_id: bad.into(),
                capacity_range: Some(csi::CapacityRange {
                    required_bytes: 2 * GIB,
                    limit_bytes: 0,
                }),
                ..Default::default()
            })),
            Code::NotFound,
            bad,
        );
        // Deleting what does not exist succeeds, and deletes nothing.
        d.run(c.delete_volume(csi::DeleteVolumeRequest {
            volume_id: bad.into(),
            ..Default::default()
        }))
        .unwrap();
    }
    assert_eq!(volumes(&s), vec![id.clone()]);
    assert!(d.mounts().is_empty());
    // Without a REST URL the node cannot look a volume up, and says so.
    let alone = Driver::start_with(None);
    let mut n = alone.node();
    assert_code(
        alone.run(n.node_stage_volume(stage(&id))),
        Code::FailedPrecondition,
        "--rest-url",
    );
    assert!(alone.mounts().is_empty());
}

/// `brickyard csi pv …`, with `stdin` fed to it.
fn csi_pv(s: &Server, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_brickyard"))
        .args(["csi", "pv", "--server", &s.base])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn pvs_are_printed_for_volumes_made_before_and_for_in_tree_pvs() {
    let s = Server::start();
    s.topology(3, 1);
    let made = s.create_volume(r#"{"size": 2, "gid": 2005}"#);
    let id = made["id"].as_str().unwrap();
    let out = csi_pv(&s, &["--claim", "apps/data", id], "");
    assert!(out.status.success(), "{out:?}");
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pv = &printed["items"][0];
    assert_eq!(pv["spec"]["csi"]["driver"], "brickyard.gluster.org");
    assert_eq!(pv["spec"]["csi"]["volumeHandle"], id);
    assert_eq!(pv["spec"]["csi"]["volumeAttributes"]["name"], made["name"]);
    assert_eq!(pv["spec"]["csi"]["volumeAttributes"]["gid"], "2005");
    assert_eq!(pv["spec"]["capacity"]["storage"], "2Gi");
    assert_eq!(pv["spec"]["accessModes"], json!(["ReadWriteMany"]));
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(pv["spec"]["claimRef"], json!({"namespace": "apps", "name": "data"}));
    assert_eq!(pv["metadata"]["annotations"]["pv.beta.kubernetes.io/gid"], "2005");

    // The PVs of a cluster on 1.25 (`kubectl get pv -o json`): one named by
    // the provisioner's annotation, one by its path, and one not GlusterFS.
    let in_tree = |name: &str, annotations: Value, path: String| {
        json!({
            "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {
                "capacity": {"storage": "2Gi"},
                "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
                "claimRef": {"namespace": "shop", "name": name, "uid": "6b1c"},
                "storageClassName": "glusterfs",
                "mountOptions": ["log-level=WARNING"],
                "glusterfs": {"endpoints": "glusterfs-dynamic-6b1c", "path": path},
            },
        })
    };
    let list = json!({"kind": "List", "items": [
        in_tree("orders", json!({"gluster.kubernetes.io/heketi-volume-id": id}), "whatever".into()),
        in_tree("carts", json!({}), format!("vol_{id}")),
        {"kind": "PersistentVolume", "metadata": {"name": "nfs"}, "spec": {"nfs": {"server": "x", "path": "/"}}},
    ]});
    let out = csi_pv(
        &s,
        &["--from-pvs", "-", "--storage-class", "glusterfs-csi"],
        &list.to_string(),
    );
    assert!(out.status.success(), "{out:?}");
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = printed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{printed}");
    for (pv, claim) in items.iter().zip(["orders", "carts"]) {
        assert_eq!(pv["spec"]["csi"]["volumeHandle"], id);
        assert_eq!(pv["spec"]["accessModes"], json!(["ReadWriteOnce", "ReadOnlyMany"]));
        assert_eq!(pv["spec"]["claimRef"], json!({"namespace": "shop", "name": claim}));
        assert_eq!(pv["spec"]["storageClassName"], "glusterfs-csi");
        assert_eq!(pv["spec"]["mountOptions"], json!(["log-level=WARNING"]));
    }

    // Bad input: each refused with a message naming it, nothing printed.
    let no_id = json!({"kind": "List", "items": [in_tree("lost", json!({}), "archive".into())]});
    for (args, stdin, says) in [
        (vec!["../clusters"], String::new(), "is not a volume id"),
        (vec!["0123456789abcdef0123456789abcdef"], String::new(), "Id not found"),
        (vec![], String::new(), "--all"),
        (vec!["--from-pvs", "-"], no_id.to_string(), "PV lost"),
        (vec!["--from-pvs", "-"], "not json".to_string(), "expected"),
        (vec!["--claim", "nonamespace", id], String::new(), "NAMESPACE/NAME"),
    ] {
        let out = csi_pv(&s, &args, &stdin);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
