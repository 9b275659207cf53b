//! The mock executor: a simulated set of storage nodes for tests and local
//! development.
//!
//! Its node state (peers, physical volumes, volume groups, logical volumes,
//! mounts, fstab lines, gluster volumes, and the command lines Heketi would
//! have run on each node) is written to a JSON file beside the store after
//! every change, so a test can inspect what a crash left behind on the
//! "nodes", also from another process.
//!
//! Faults are injected by rules, from `glusterfs.mockexec.faults` in the
//! config or `BRICKYARD_MOCK_FAULTS` (comma separated):
//!
//! ```text
//! <operation>[@<host>]:<calls>:fail[:<message>]
//! <operation>[@<host>]:<calls>:delay:<milliseconds>
//! <operation>[@<host>]:<calls>:lose[:<message>]
//! <operation>[@<host>]:<calls>:stall:<milliseconds>
//! ```
//!
//! `stall` carries the call out and then waits before answering: the window
//! between a change on the nodes and the store's commit, for crash tests.
//! `lose` carries the call out on the node and then reports the node
//! unreachable, as a session lost after the command ran would: the caller
//! cannot tell whether it happened.
//!
//! `<calls>` is `N` (the Nth matching call, counted from 1 since start-up),
//! `N+` (the Nth and every later one) or `*` (every call). Operations:
//! `glusterd_check`, `peer_probe`, `peer_detach`, `device_setup`,
//! `device_info`, `device_teardown`, `device_forget`, `brick_create`,
//! `brick_destroy`, `volume_create`, `volume_expand`, `volume_destroy`,
//! `volume_clone`, `snapshot_destroy`, `volume_info`, `node_inventory`,
//! `heal_info`, `heal_start`, `brick_replace`.
//!
//! Heal info reports every brick `Connected` with nothing to heal.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::commands::CommandConfig;
use super::{
    BrickSpec, CloneReport, DeviceHandle, DeviceReport, DeviceSetupError, ExecError, Executor, GlusterVolumeInfo,
    GlusterVolumeSpec, HealEntry, LvEntry, MountEntry, NodeInventory, VolumeLayout,
};

const EXTENT_KIB: u64 = 4096;
const KIB_PER_GIB: u64 = 1024 * 1024;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MockPv {
    pub uuid: String,
    /// The volume group on it, if any.
    pub vg: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MockVg {
    pub pv: String,
    pub extent_size: u64,
    pub extents: u64,
    pub allocated_extents: u64,
}

/// What one simulated storage node holds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MockHost {
    /// Storage hostnames this node has peer-probed.
    pub peers: BTreeSet<String>,
    /// Physical volumes by device path.
    pub pvs: BTreeMap<String, MockPv>,
    /// Volume groups by name.
    pub vgs: BTreeMap<String, MockVg>,
    /// Logical volumes by `vg/lv`.
    #[serde(default)]
    pub lvs: BTreeMap<String, MockLv>,
    /// Mounted file systems: mount point → device node.
    #[serde(default)]
    pub mounts: BTreeMap<String, String>,
    /// Lines of the node's fstab.
    #[serde(default)]
    pub fstab: Vec<String>,
    /// Every command line run on this node, in order.
    #[serde(default)]
    pub commands: Vec<String>,
}

/// A logical volume: a thin pool (holding extents) or a thin LV in one.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MockLv {
    /// For a thin LV: its pool's name.
    pub pool: Option<String>,
    /// Extents a thin pool holds.
    pub extents: u64,
    pub size_kib: u64,
}

/// A gluster volume in the simulated trusted pool.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MockVolume {
    pub id: String,
    pub layout: VolumeLayout,
    pub bricks: Vec<String>,
    pub options: Vec<String>,
    pub started: bool,
}

/// The whole simulated fleet, keyed by manage hostname.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MockNodes {
    pub hosts: BTreeMap<String, MockHost>,
    /// Gluster volumes by name (the pool is shared by all nodes).
    #[serde(default)]
    pub volumes: BTreeMap<String, MockVolume>,
}

impl MockNodes {
    /// Reads a state file written by a mock executor.
    pub fn load(path: &Path) -> std::io::Result<MockNodes> {
        match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(MockNodes::default()),
            Err(e) => Err(e),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Calls {
    Nth(u64),
    From(u64),
    Every,
}

#[derive(Debug, Clone, PartialEq)]
enum FaultAction {
    Fail(String),
    Delay(Duration),
    /// Carry the call out, then report the node unreachable.
    Lose(String),
    /// Carry the call out, then wait before answering.
    Stall(Duration),
}

/// What happens after a call that changes node state was carried out: a
/// `stall` (the change made, the answer not yet back) and a `lose`.
#[must_use]
#[derive(Default)]
struct Aftermath {
    stall: Option<Duration>,
    lost: Option<String>,
}

impl Aftermath {
    async fn settle<T>(
        self,
        host: &str,
        operation: &'static str,
        result: Result<T, ExecError>,
    ) -> Result<T, ExecError> {
        if let Some(d) = self.stall {
            tokio::time::sleep(d).await;
        }
        match (self.lost, result) {
            (Some(message), Ok(_)) => Err(ExecError {
                unreachable: true,
                ..ExecError::new(host, operation, message)
            }),
            (_, result) => result,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct FaultRule {
    operation: String,
    host: Option<String>,
    calls: Calls,
    action: FaultAction,
}

fn parse_rule(spec: &str) -> Result<FaultRule, String> {
    let bad = || format!("invalid mock fault rule {spec:?}");
    let mut parts = spec.splitn(4, ':');
    let target = parts.next().ok_or_else(bad)?;
    let calls = parts.next().ok_or_else(bad)?;
    let action = parts.next().ok_or_else(bad)?;
    let arg = parts.next();
    let (operation, host) = match target.split_once('@') {
        Some((op, host)) => (op.to_string(), Some(host.to_string())),
        None => (target.to_string(), None),
    };
    let calls = if calls == "*" {
        Calls::Every
    } else if let Some(n) = calls.strip_suffix('+') {
        Calls::From(n.parse().map_err(|_| bad())?)
    } else {
        Calls::Nth(calls.parse().map_err(|_| bad())?)
    };
    let action = match (action, arg) {
        ("fail", msg) => FaultAction::Fail(msg.unwrap_or("injected failure").to_string()),
        ("delay", Some(ms)) => FaultAction::Delay(Duration::from_millis(ms.parse().map_err(|_| bad())?)),
        ("stall", Some(ms)) => FaultAction::Stall(Duration::from_millis(ms.parse().map_err(|_| bad())?)),
        ("lose", msg) => FaultAction::Lose(msg.unwrap_or("connection lost after the command was sent").to_string()),
        _ => return Err(bad()),
    };
    Ok(FaultRule {
        operation,
        host,
        calls,
        action,
    })
}

struct Inner {
    nodes: MockNodes,
    /// Calls seen per rule index.
    rule_calls: Vec<u64>,
}

pub struct MockExecutor {
    commands: CommandConfig,
    device_size_kib: u64,
    rules: Vec<FaultRule>,
    state_path: Option<PathBuf>,
    inner: Mutex<Inner>,
}

impl MockExecutor {
    /// A mock whose node state lives in memory only.
    pub fn in_memory(device_size_gb: u64, faults: &[String]) -> Result<MockExecutor, String> {
        MockExecutor::build(device_size_gb, faults, None, MockNodes::default())
    }

    /// A mock that keeps its node state in `state_path`, reloading it at start.
    pub fn durable(device_size_gb: u64, faults: &[String], state_path: PathBuf) -> Result<MockExecutor, String> {
        let nodes = MockNodes::load(&state_path)
            .map_err(|e| format!("cannot read mock node state {}: {e}", state_path.display()))?;
        MockExecutor::build(device_size_gb, faults, Some(state_path), nodes)
    }

    fn build(
        device_size_gb: u64,
        faults: &[String],
        state_path: Option<PathBuf>,
        nodes: MockNodes,
    ) -> Result<MockExecutor, String> {
        let rules = faults.iter().map(|s| parse_rule(s)).collect::<Result<Vec<_>, _>>()?;
        Ok(MockExecutor {
            commands: CommandConfig::default(),
            device_size_kib: device_size_gb * KIB_PER_GIB,
            inner: Mutex::new(Inner {
                nodes,
                rule_calls: vec![0; rules.len()],
            }),
            rules,
            state_path,
        })
    }

    /// Uses these settings for the command lines it records.
    pub fn with_commands(mut self, commands: CommandConfig) -> MockExecutor {
        self.commands = commands;
        self
    }

    /// A copy of the simulated node state.
    pub fn nodes(&self) -> MockNodes {
        self.lock().nodes.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts the call against every matching rule and returns what to do.
    fn faults_for(&self, operation: &str, host: &str) -> Vec<FaultAction> {
        let mut inner = self.lock();
        let mut actions = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.operation != operation || rule.host.as_deref().is_some_and(|h| h != host) {
                continue;
            }
            inner.rule_calls[i] += 1;
            let n = inner.rule_calls[i];
            let hit = match rule.calls {
                Calls::Nth(k) => n == k,
                Calls::From(k) => n >= k,
                Calls::Every => true,
            };
            if hit {
                actions.push(rule.action.clone());
            }
        }
        actions
    }

    /// Applies the fault rules to a call that changes nothing: a lost
    /// answer is just a failure.
    async fn enter(&self, operation: &'static str, host: &str) -> Result<(), ExecError> {
        let after = self.enter_change(operation, host).await?;
        after.settle(host, operation, Ok(())).await
    }

    /// Applies the fault rules to a call that changes node state; the
    /// caller settles the returned `Aftermath` with its result.
    async fn enter_change(&self, operation: &'static str, host: &str) -> Result<Aftermath, ExecError> {
        let mut after = Aftermath::default();
        for action in self.faults_for(operation, host) {
            match action {
                FaultAction::Delay(d) => tokio::time::sleep(d).await,
                FaultAction::Fail(msg) => return Err(ExecError::new(host, operation, msg)),
                FaultAction::Lose(msg) => after.lost = Some(msg),
                FaultAction::Stall(d) => after.stall = Some(d),
            }
        }
        Ok(after)
    }

    /// Applies `change` to the node state and writes it out before returning.
    fn mutate<T>(&self, change: impl FnOnce(&mut MockNodes) -> T) -> Result<T, String> {
        let mut inner = self.lock();
        let result = change(&mut inner.nodes);
        if let Some(path) = &self.state_path {
            write_atomically(path, &inner.nodes).map_err(|e| format!("mock state write failed: {e}"))?;
        }
        Ok(result)
    }

    fn report(&self, vg: &MockVg, pv_uuid: &str, path: &str) -> DeviceReport {
        DeviceReport {
            total: vg.extents * vg.extent_size,
            free: (vg.extents - vg.allocated_extents) * vg.extent_size,
            used: vg.allocated_extents * vg.extent_size,
            extent_size: vg.extent_size,
            pv_uuid: pv_uuid.to_string(),
            paths: vec![path.to_string()],
        }
    }
}

fn write_atomically(path: &Path, nodes: &MockNodes) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(nodes).map_err(std::io::Error::other)?;
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// `(vg, lv)` of a `/dev/mapper/<vg>-<lv>` device (names here hold no `-`).
fn mapper_name(device: &str) -> Option<(String, String)> {
    let (vg, lv) = device.strip_prefix("/dev/mapper/")?.split_once('-')?;
    Some((vg.to_string(), lv.to_string()))
}

/// An LVM-style PV UUID (6-4-4-4-4-4-6 characters), derived from the device id.
fn pv_uuid_for(device_id: &str) -> String {
    let chars: Vec<char> = device_id.chars().chain(std::iter::repeat('0')).take(32).collect();
    let mut out = String::new();
    let mut pos = 0;
    for (i, len) in [6, 4, 4, 4, 4, 4, 6].iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        out.extend(&chars[pos..pos + len]);
        pos += len;
    }
    out
}

#[async_trait]
impl Executor for MockExecutor {
    async fn glusterd_check(&self, host: &str) -> Result<(), ExecError> {
        self.enter("glusterd_check", host).await
    }

    async fn peer_probe(&self, exec_host: &str, storage_host: &str) -> Result<(), ExecError> {
        self.enter("peer_probe", exec_host).await?;
        let lines = self.commands.peer_probe(storage_host);
        self.mutate(|n| {
            let host = n.hosts.entry(exec_host.to_string()).or_default();
            host.commands.extend(lines);
            host.peers.insert(storage_host.to_string())
        })
        .map_err(|e| ExecError::new(exec_host, "peer_probe", e))?;
        Ok(())
    }

    async fn peer_detach(&self, exec_host: &str, storage_host: &str) -> Result<(), ExecError> {
        self.enter("peer_detach", exec_host).await?;
        let lines = self.commands.peer_detach(storage_host);
        self.mutate(|n| {
            let h = n.hosts.entry(exec_host.to_string()).or_default();
            h.commands.extend(lines);
            h.peers.remove(storage_host);
        })
        .map_err(|e| ExecError::new(exec_host, "peer_detach", e))
    }

    async fn device_setup(
        &self,
        host: &str,
        path: &str,
        device_id: &str,
        destroy: bool,
    ) -> Result<DeviceReport, DeviceSetupError> {
        self.enter("device_setup", host)
            .await
            .map_err(DeviceSetupError::HasData)?;
        let size = self.device_size_kib;
        let vg_name = format!("vg_{device_id}");
        let lines = self.commands.device_setup(path, device_id, destroy);
        let outcome = self
            .mutate(|n| {
                let node = n.hosts.entry(host.to_string()).or_default();
                node.commands.extend(lines);
                if destroy {
                    if let Some(pv) = node.pvs.remove(path) {
                        if let Some(vg) = pv.vg {
                            node.vgs.remove(&vg);
                        }
                    }
                }
                if let Some(pv) = node.pvs.get(path) {
                    let vg = pv.vg.clone().unwrap_or_default();
                    return Err(DeviceSetupError::HasPhysicalVolume {
                        pv_uuid: pv.uuid.clone(),
                        error: ExecError::new(
                            host,
                            "device_setup",
                            format!("Can't initialize physical volume \"{path}\" of volume group \"{vg}\" without -ff"),
                        ),
                    });
                }
                let uuid = pv_uuid_for(device_id);
                let vg = MockVg {
                    pv: path.to_string(),
                    extent_size: EXTENT_KIB,
                    extents: size / EXTENT_KIB,
                    allocated_extents: 0,
                };
                node.pvs.insert(
                    path.to_string(),
                    MockPv {
                        uuid: uuid.clone(),
                        vg: Some(vg_name.clone()),
                    },
                );
                node.vgs.insert(vg_name.clone(), vg.clone());
                Ok((vg, uuid))
            })
            .map_err(|e| DeviceSetupError::Unreachable(ExecError::new(host, "device_setup", e)))?;
        let (vg, uuid) = outcome?;
        Ok(self.report(&vg, &uuid, path))
    }

    async fn device_info(&self, host: &str, device: &DeviceHandle) -> Result<DeviceReport, ExecError> {
        self.enter("device_info", host).await?;
        let vg_name = device.vg_name();
        let inner = self.lock();
        let node = inner.nodes.hosts.get(host);
        let vg = node
            .and_then(|n| n.vgs.get(&vg_name))
            .ok_or_else(|| ExecError::new(host, "device_info", format!("Volume group \"{vg_name}\" not found")))?;
        let uuid = node
            .and_then(|n| n.pvs.get(&vg.pv))
            .map(|pv| pv.uuid.clone())
            .unwrap_or_default();
        Ok(self.report(vg, &uuid, &vg.pv))
    }

    async fn device_teardown(&self, host: &str, device: &DeviceHandle) -> Result<(), ExecError> {
        self.enter("device_teardown", host).await?;
        let vg_name = device.vg_name();
        self.mutate(|n| {
            let Some(node) = n.hosts.get_mut(host) else {
                return Ok(());
            };
            if let Some(vg) = node.vgs.get(&vg_name) {
                if vg.allocated_extents > 0 {
                    return Err(ExecError::new(
                        host,
                        "device_teardown",
                        format!("Volume group \"{vg_name}\" still contains logical volumes"),
                    ));
                }
                let pv = vg.pv.clone();
                node.vgs.remove(&vg_name);
                node.pvs.remove(&pv);
            }
            Ok(())
        })
        .map_err(|e| ExecError::new(host, "device_teardown", e))?
    }

    async fn device_forget(&self, host: &str, device: &DeviceHandle) {
        if self.enter("device_forget", host).await.is_err() {
            return;
        }
        let vg_name = device.vg_name();
        let _ = self.mutate(|n| {
            if let Some(node) = n.hosts.get_mut(host) {
                if let Some(vg) = node.vgs.remove(&vg_name) {
                    node.pvs.remove(&vg.pv);
                }
            }
        });
    }

    async fn brick_create(&self, host: &str, brick: &BrickSpec) -> Result<(), ExecError> {
        let lost = self.enter_change("brick_create", host).await?;
        let lines = self.commands.brick_create(brick);
        let fstab_line = format!(
            "/dev/mapper/{}-brick_{} {} xfs {} 1 2",
            brick.vg(),
            brick.brick_id,
            brick.mount_point(),
            self.commands.mount_opts
        );
        let result = self
            .mutate(|n| {
                let node = n.hosts.entry(host.to_string()).or_default();
                let lv_key = format!("{}/{}", brick.vg(), brick.lv);
                if node.lvs.contains_key(&lv_key) {
                    // A create interrupted after lvcreate: finish mounting it.
                    let device = format!("/dev/mapper/{}-brick_{}", brick.vg(), brick.brick_id);
                    node.mounts.entry(brick.mount_point()).or_insert(device);
                    if !node.fstab.contains(&fstab_line) {
                        node.fstab.push(fstab_line.clone());
                    }
                    return Ok(());
                }
                node.commands.extend(lines);
                let vg_name = brick.vg();
                let Some(vg) = node.vgs.get_mut(&vg_name) else {
                    return Err(format!("Volume group \"{vg_name}\" not found"));
                };
                let needed = (brick.tp_kib + brick.meta_kib).div_ceil(vg.extent_size);
                let free = vg.extents - vg.allocated_extents;
                if needed > free {
                    return Err(format!(
                        "Insufficient free space: {needed} extents needed, but only {free} available"
                    ));
                }
                vg.allocated_extents += needed;
                node.lvs.insert(
                    format!("{}/{}", vg_name, brick.thin_pool),
                    MockLv {
                        pool: None,
                        extents: needed,
                        size_kib: brick.tp_kib,
                    },
                );
                node.lvs.insert(
                    lv_key,
                    MockLv {
                        pool: Some(brick.thin_pool.clone()),
                        extents: 0,
                        size_kib: brick.size_kib,
                    },
                );
                node.mounts.insert(
                    brick.mount_point(),
                    format!("/dev/mapper/{}-brick_{}", vg_name, brick.brick_id),
                );
                node.fstab.push(fstab_line.clone());
                Ok(())
            })
            .and_then(|r| r)
            .map_err(|e| ExecError::new(host, "brick_create", e));
        lost.settle(host, "brick_create", result).await
    }

    async fn brick_destroy(&self, host: &str, brick: &BrickSpec) -> Result<bool, ExecError> {
        let lost = self.enter_change("brick_destroy", host).await?;
        let lines = self.commands.brick_destroy(brick);
        let result = self
            .mutate(|n| {
                let node = n.hosts.entry(host.to_string()).or_default();
                node.commands.extend(lines);
                node.mounts.remove(&brick.mount_point());
                let marker = format!("brick_{}", brick.brick_id);
                node.fstab.retain(|l| !l.contains(&marker));
                let vg_name = brick.vg();
                node.lvs.remove(&format!("{}/{}", vg_name, brick.lv));
                let pool_key = format!("{}/{}", vg_name, brick.thin_pool);
                let users = node
                    .lvs
                    .iter()
                    .filter(|(k, lv)| {
                        k.starts_with(&format!("{vg_name}/")) && lv.pool.as_deref() == Some(brick.thin_pool.as_str())
                    })
                    .count();
                if users > 0 {
                    return false;
                }
                if let Some(pool) = node.lvs.remove(&pool_key) {
                    if let Some(vg) = node.vgs.get_mut(&vg_name) {
                        vg.allocated_extents = vg.allocated_extents.saturating_sub(pool.extents);
                    }
                }
                true
            })
            .map_err(|e| ExecError::new(host, "brick_destroy", e));
        lost.settle(host, "brick_destroy", result).await
    }

    async fn volume_create(&self, host: &str, volume: &GlusterVolumeSpec) -> Result<(), ExecError> {
        let lost = self.enter_change("volume_create", host).await?;
        let lines = self.commands.volume_create(volume);
        let result = self
            .mutate(|n| {
                if let Some(existing) = n.volumes.get(&volume.name) {
                    return if existing.bricks == volume.bricks {
                        Ok(())
                    } else {
                        Err(format!(
                            "volume create: {}: failed: Volume {} already exists",
                            volume.name, volume.name
                        ))
                    };
                }
                n.hosts.entry(host.to_string()).or_default().commands.extend(lines);
                n.volumes.insert(
                    volume.name.clone(),
                    MockVolume {
                        id: uuid::Uuid::new_v4().to_string(),
                        layout: volume.layout,
                        bricks: volume.bricks.clone(),
                        options: volume.options.iter().filter(|o| !o.is_empty()).cloned().collect(),
                        started: true,
                    },
                );
                Ok(())
            })
            .and_then(|r| r)
            .map_err(|e| ExecError::new(host, "volume_create", e));
        lost.settle(host, "volume_create", result).await
    }

    async fn volume_expand(&self, host: &str, volume: &GlusterVolumeSpec) -> Result<(), ExecError> {
        let lost = self.enter_change("volume_expand", host).await?;
        let lines = self.commands.volume_expand(volume);
        let result = self
            .mutate(|n| {
                let Some(existing) = n.volumes.get_mut(&volume.name) else {
                    return Err(format!(
                        "volume add-brick: failed: Volume {} does not exist",
                        volume.name
                    ));
                };
                let new: Vec<String> = volume
                    .bricks
                    .iter()
                    .filter(|b| !existing.bricks.contains(b))
                    .cloned()
                    .collect();
                existing.bricks.extend(new);
                n.hosts.entry(host.to_string()).or_default().commands.extend(lines);
                Ok(())
            })
            .and_then(|r| r)
            .map_err(|e| ExecError::new(host, "volume_expand", e));
        lost.settle(host, "volume_expand", result).await
    }

    async fn volume_destroy(&self, host: &str, name: &str) -> Result<(), ExecError> {
        let lost = self.enter_change("volume_destroy", host).await?;
        let lines = self.commands.volume_destroy(name);
        let result = self
            .mutate(|n| {
                n.hosts.entry(host.to_string()).or_default().commands.extend(lines);
                n.volumes.remove(name);
            })
            .map_err(|e| ExecError::new(host, "volume_destroy", e));
        lost.settle(host, "volume_destroy", result).await
    }

    async fn volume_info(&self, host: &str, name: &str) -> Result<Option<GlusterVolumeInfo>, ExecError> {
        self.enter("volume_info", host).await?;
        Ok(self.lock().nodes.volumes.get(name).map(|v| GlusterVolumeInfo {
            id: v.id.replace('-', ""),
            bricks: v.bricks.clone(),
        }))
    }

    async fn gluster_volumes(&self, host: &str) -> Result<Vec<(String, GlusterVolumeInfo)>, ExecError> {
        self.enter("volume_info", host).await?;
        Ok(self
            .lock()
            .nodes
            .volumes
            .iter()
            .map(|(name, v)| {
                let info = GlusterVolumeInfo {
                    id: v.id.replace('-', ""),
                    bricks: v.bricks.clone(),
                };
                (name.clone(), info)
            })
            .collect())
    }

    async fn node_inventory(&self, host: &str) -> Result<NodeInventory, ExecError> {
        self.enter("node_inventory", host).await?;
        let inner = self.lock();
        let Some(node) = inner.nodes.hosts.get(host) else {
            return Ok(NodeInventory::default());
        };
        let lvs = node
            .lvs
            .iter()
            .filter_map(|(key, lv)| {
                let (vg, name) = key.split_once('/')?;
                Some(LvEntry {
                    vg: vg.to_string(),
                    lv: name.to_string(),
                    pool: lv.pool.clone(),
                    origin: None,
                })
            })
            .collect();
        let mounts = node
            .mounts
            .iter()
            .map(|(target, source)| MountEntry {
                source: source.clone(),
                target: target.clone(),
            })
            .collect();
        Ok(NodeInventory {
            lvs,
            mounts,
            fstab: node.fstab.clone(),
        })
    }

    async fn heal_info(&self, host: &str, name: &str) -> Result<Vec<HealEntry>, ExecError> {
        self.enter("heal_info", host).await?;
        let nodes = &self.lock().nodes;
        let volume = nodes
            .volumes
            .get(name)
            .ok_or_else(|| ExecError::new(host, "heal_info", format!("Volume {name} does not exist")))?;
        if matches!(volume.layout, VolumeLayout::Distribute) {
            return Err(ExecError::new(
                host,
                "heal_info",
                format!("Volume {name} is not of type replicate/disperse"),
            ));
        }
        Ok(volume
            .bricks
            .iter()
            .map(|b| HealEntry {
                brick: b.clone(),
                status: "Connected".into(),
                entries: "0".into(),
            })
            .collect())
    }

    async fn heal_start(&self, host: &str, name: &str) -> Result<(), ExecError> {
        self.enter("heal_start", host).await?;
        let line = self.commands.heal_start(name);
        self.mutate(|n| n.hosts.entry(host.to_string()).or_default().commands.push(line))
            .map_err(|e| ExecError::new(host, "heal_start", e))
    }

    async fn brick_replace(&self, host: &str, volume: &str, old: &str, new: &str) -> Result<(), ExecError> {
        let lost = self.enter_change("brick_replace", host).await?;
        let line = self.commands.brick_replace(volume, old, new);
        let result = self
            .mutate(|n| {
                let Some(v) = n.volumes.get_mut(volume) else {
                    return Err(format!("volume replace-brick: failed: Volume {volume} does not exist"));
                };
                let Some(slot) = v.bricks.iter_mut().find(|b| b.as_str() == old) else {
                    return Err(format!(
                        "volume replace-brick: failed: brick: {old} does not exist in volume: {volume}"
                    ));
                };
                *slot = new.to_string();
                n.hosts.entry(host.to_string()).or_default().commands.push(line);
                Ok(())
            })
            .and_then(|r| r)
            .map_err(|e| ExecError::new(host, "brick_replace", e));
        lost.settle(host, "brick_replace", result).await
    }

    async fn volume_clone(
        &self,
        host: &str,
        source: &str,
        clone: &str,
        snapshot: &str,
    ) -> Result<CloneReport, ExecError> {
        let lost = self.enter_change("volume_clone", host).await?;
        let lines = self.commands.volume_clone(source, clone, snapshot).to_vec();
        let result = self
            .mutate(|n| {
                let Some(src) = n.volumes.get(source).cloned() else {
                    return Err(format!("snapshot create: failed: Volume ({source}) does not exist"));
                };
                if n.volumes.contains_key(clone) {
                    return Err(format!("snapshot clone: failed: Volume ({clone}) already exists"));
                }
                let gluster_id = uuid::Uuid::new_v4().simple().to_string();
                let mut bricks = Vec::new();
                for (i, b) in src.bricks.iter().enumerate() {
                    let (shost, path) = b.split_once(':').unwrap_or(("", b));
                    // As glusterd does: a thin snapshot of the LV mounted under the
                    // source brick (a clone's own brick for a clone of a clone),
                    // in the same thin pool, mounted under /run/gluster/snaps.
                    let source_mount = path.strip_suffix("/brick").unwrap_or(path);
                    let lv_name = format!("{gluster_id}_{i}");
                    let mount = format!("/run/gluster/snaps/{gluster_id}/brick{}", i + 1);
                    let origin = n.hosts.values_mut().find_map(|node| {
                        let device = node.mounts.get(source_mount)?;
                        let (vg, lv) = mapper_name(device)?;
                        let pool = node.lvs.get(&format!("{vg}/{lv}"))?.pool.clone()?;
                        Some((node, vg, pool))
                    });
                    let Some((node, vg, pool)) = origin else {
                        return Err(format!(
                            "snapshot create: failed: Brick {b} of volume {source} is not a mounted thin LV"
                        ));
                    };
                    node.lvs.insert(
                        format!("{vg}/{lv_name}"),
                        MockLv {
                            pool: Some(pool),
                            extents: 0,
                            size_kib: 0,
                        },
                    );
                    node.mounts.insert(mount.clone(), format!("/dev/mapper/{vg}-{lv_name}"));
                    bricks.push(format!("{shost}:{mount}/brick"));
                }
                n.hosts.entry(host.to_string()).or_default().commands.extend(lines);
                n.volumes.insert(
                    clone.to_string(),
                    MockVolume {
                        id: gluster_id.clone(),
                        layout: src.layout,
                        bricks: bricks.clone(),
                        options: src.options,
                        started: true,
                    },
                );
                Ok(CloneReport { gluster_id, bricks })
            })
            .and_then(|r| r)
            .map_err(|e| ExecError::new(host, "volume_clone", e));
        lost.settle(host, "volume_clone", result).await
    }

    async fn snapshot_destroy(&self, host: &str, snapshot: &str) -> Result<(), ExecError> {
        // Clones are made in one step here, so no snapshot is ever left.
        let lost = self.enter_change("snapshot_destroy", host).await?;
        let lines = self.commands.snapshot_destroy(snapshot);
        let result = self
            .mutate(|n| n.hosts.entry(host.to_string()).or_default().commands.extend(lines))
            .map_err(|e| ExecError::new(host, "snapshot_destroy", e));
        lost.settle(host, "snapshot_destroy", result).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(id: &str) -> DeviceHandle {
        DeviceHandle {
            device_id: id.into(),
            pv_uuid: String::new(),
            paths: vec!["/dev/sdb".into()],
        }
    }

    #[tokio::test]
    async fn device_setup_reports_heketi_sizes_and_refuses_a_second_pv() {
        let mock = MockExecutor::in_memory(500, &[]).unwrap();
        let report = mock.device_setup("n1", "/dev/sdb", "d1", false).await.unwrap();
        assert_eq!((report.total, report.free, report.used), (524_288_000, 524_288_000, 0));
        assert_eq!(report.extent_size, 4096);
        let again = mock.device_setup("n1", "/dev/sdb", "d2", false).await.unwrap_err();
        assert!(matches!(again, DeviceSetupError::HasPhysicalVolume { .. }));
        // A wipe makes room.
        mock.device_setup("n1", "/dev/sdb", "d2", true).await.unwrap();
        assert!(mock.nodes().hosts["n1"].vgs.contains_key("vg_d2"));
        assert!(!mock.nodes().hosts["n1"].vgs.contains_key("vg_d1"));
    }

    #[tokio::test]
    async fn teardown_is_idempotent() {
        let mock = MockExecutor::in_memory(1, &[]).unwrap();
        mock.device_setup("n1", "/dev/sdb", "d1", false).await.unwrap();
        mock.device_teardown("n1", &handle("d1")).await.unwrap();
        mock.device_teardown("n1", &handle("d1")).await.unwrap();
        assert!(mock.nodes().hosts["n1"].pvs.is_empty());
    }

    #[tokio::test]
    async fn faults_hit_the_nth_matching_call() {
        let rules = vec![
            "peer_probe:2:fail:boom".to_string(),
            "glusterd_check@bad:*:fail".to_string(),
        ];
        let mock = MockExecutor::in_memory(1, &rules).unwrap();
        mock.peer_probe("a", "x").await.unwrap();
        assert_eq!(mock.peer_probe("a", "y").await.unwrap_err().message, "boom");
        mock.peer_probe("a", "z").await.unwrap();
        mock.glusterd_check("good").await.unwrap();
        assert!(mock.glusterd_check("bad").await.is_err());
        assert!(mock.glusterd_check("bad").await.is_err());
    }

    #[test]
    fn bad_rules_are_refused() {
        for spec in ["x", "op:abc:fail", "op:1:explode", "op:1:delay"] {
            assert!(parse_rule(spec).is_err(), "{spec}");
        }
        assert_eq!(parse_rule("op:3+:delay:5").unwrap().calls, Calls::From(3));
    }

    #[tokio::test]
    async fn durable_state_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mock.json");
        {
            let mock = MockExecutor::durable(1, &[], path.clone()).unwrap();
            mock.peer_probe("n1", "10.0.0.2").await.unwrap();
        }
        let again = MockExecutor::durable(1, &[], path.clone()).unwrap();
        assert!(again.nodes().hosts["n1"].peers.contains("10.0.0.2"));
        assert_eq!(MockNodes::load(&path).unwrap(), again.nodes());
    }

    #[test]
    fn pv_uuids_look_like_lvm_ones() {
        assert_eq!(
            pv_uuid_for("0123456789abcdef0123456789abcdef"),
            "012345-6789-abcd-ef01-2345-6789-abcdef"
        );
    }
}
