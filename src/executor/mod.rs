//! The executor: what Brickyard asks of storage nodes. `commands` builds
//! Heketi's command lines, `remote` runs them through a `transport` (SSH,
//! Kubernetes exec) and `parse` reads what they print; `mock` simulates
//! nodes for tests.

mod block;
pub mod commands;
pub mod examine;
pub mod kube;
pub mod mock;
pub mod parse;
pub mod remote;
pub mod ssh;
pub mod transport;

pub use block::{block_iqn, BlockAuth, BlockVolumeCreated, BlockVolumeReport, BlockVolumeSpec};
pub use parse::HealEntry;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A failed call on a storage node. The message is what reaches the user.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{message}")]
pub struct ExecError {
    pub host: String,
    pub operation: &'static str,
    pub message: String,
    /// The node could not be reached at all (connection, authentication,
    /// host key), as opposed to a command that ran and failed.
    pub unreachable: bool,
    /// A time limit ran out before an answer came: the command's (SSH,
    /// the `timeout` of Kubernetes exec, the batch's deadline), one before
    /// it could start (connecting, an exec session), or gluster's own
    /// `--timeout` ("Request timed out"). With `unreachable` the command
    /// may or may not have run and may still be running; without it, the
    /// command ran and reported that its time ran out.
    pub timed_out: bool,
}

impl ExecError {
    pub fn new(host: &str, operation: &'static str, message: impl Into<String>) -> ExecError {
        ExecError {
            host: host.to_string(),
            operation,
            message: message.into(),
            unreachable: false,
            timed_out: false,
        }
    }
}

/// Why a device could not be initialised; decides whether a wipe is safe.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum DeviceSetupError {
    /// The node could not even be asked about the device.
    #[error("{0}")]
    Unreachable(ExecError),
    /// The device already carries an LVM physical volume.
    #[error("{error}")]
    HasPhysicalVolume { pv_uuid: String, error: ExecError },
    /// The device holds something else (a filesystem, a partition table).
    #[error("{0}")]
    HasData(ExecError),
}

/// How to find a device's LVM objects on its node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceHandle {
    /// The device id, which names the volume group `vg_<id>`.
    pub device_id: String,
    pub pv_uuid: String,
    pub paths: Vec<String>,
}

impl DeviceHandle {
    pub fn vg_name(&self) -> String {
        format!("vg_{}", self.device_id)
    }
    /// The path operations use: the PV's by-uuid link when known, else the first path.
    pub fn primary_path(&self) -> String {
        if !self.pv_uuid.is_empty() {
            format!("/dev/disk/by-id/lvm-pv-uuid-{}", self.pv_uuid)
        } else {
            self.paths.first().cloned().unwrap_or_default()
        }
    }
}

/// Sizes and identity of an initialised device, all sizes in KiB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceReport {
    pub total: u64,
    pub free: u64,
    pub used: u64,
    pub extent_size: u64,
    pub pv_uuid: String,
    pub paths: Vec<String>,
}

/// One brick to create or destroy: a thin pool and thin LV in the device's
/// volume group, an XFS file system mounted under Heketi's mount root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrickSpec {
    pub device_id: String,
    pub brick_id: String,
    /// Thin pool LV name (`tp_<id>`, or the stored name for old bricks).
    pub thin_pool: String,
    /// Brick LV name (`brick_<id>`).
    pub lv: String,
    /// Thin LV virtual size, KiB.
    pub size_kib: u64,
    /// Thin pool data size, KiB.
    pub tp_kib: u64,
    /// Thin pool metadata size, KiB.
    pub meta_kib: u64,
    /// Group owning the brick root; 0 for none.
    pub gid: i64,
    pub arbiter: bool,
    /// The directory gluster uses, ending in `/brick`.
    pub path: String,
}

/// Heketi's brick directory for a brick it creates.
pub fn brick_path(device_id: &str, brick_id: &str) -> String {
    format!("/var/lib/heketi/mounts/vg_{device_id}/brick_{brick_id}/brick")
}

impl BrickSpec {
    pub fn vg(&self) -> String {
        format!("vg_{}", self.device_id)
    }
    /// Where the brick's file system is mounted: the path without `/brick`.
    pub fn mount_point(&self) -> String {
        self.path.strip_suffix("/brick").unwrap_or(&self.path).to_string()
    }
    /// Snapshot-clone bricks are mounted by glusterd, not through fstab.
    pub fn mounted_by_gluster(&self) -> bool {
        self.path.starts_with("/run/gluster/") || self.path.starts_with("/var/run/gluster/")
    }
}

/// How a gluster volume lays its bricks out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeLayout {
    Distribute,
    Replicate { replica: u64, arbiter: bool },
    Disperse { data: u64, redundancy: u64 },
}

/// A gluster volume to create or grow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlusterVolumeSpec {
    pub name: String,
    pub layout: VolumeLayout,
    /// `host:/path` in set order.
    pub bricks: Vec<String>,
    /// `key value` options, applied with `volume set` (empty ones skipped).
    pub options: Vec<String>,
}

/// A gluster volume as `volume info` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlusterVolumeInfo {
    /// Gluster's volume id, without dashes.
    pub id: String,
    /// `host:/path`, set by set.
    pub bricks: Vec<String>,
}

/// A logical volume in one of Brickyard's volume groups (`vg_<device id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LvEntry {
    pub vg: String,
    pub lv: String,
    /// For a thin LV, its pool; `None` for a pool (or any other LV).
    pub pool: Option<String>,
    /// For a snapshot, the LV it was taken of (gluster snapshots of bricks).
    #[serde(default)]
    pub origin: Option<String>,
}

/// A mounted file system: its device and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountEntry {
    pub source: String,
    pub target: String,
}

/// What a node holds of Brickyard's making, as the node itself reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeInventory {
    /// LVs in volume groups named `vg_*`.
    pub lvs: Vec<LvEntry>,
    /// Mounts under Heketi's mount root or glusterd's snapshot root.
    pub mounts: Vec<MountEntry>,
    /// fstab lines that mount something under Heketi's mount root.
    pub fstab: Vec<String>,
    /// Brick directories (`<root>/vg_*/brick_*/brick`) under Heketi's
    /// mount root, as the node lists them through its mounts.
    #[serde(default)]
    pub brick_dirs: Vec<String>,
}

/// Where brick file systems are mounted: Heketi's root, and glusterd's for
/// snapshot clones.
pub const BRICK_MOUNT_ROOTS: [&str; 3] = [
    "/var/lib/heketi/mounts/",
    "/run/gluster/snaps/",
    "/var/run/gluster/snaps/",
];

/// The temporary snapshot a clone of `clone_id` is made from: named after
/// the clone, so an undo after a crash can find one left behind.
pub fn clone_snapshot_name(clone_id: &str) -> String {
    format!("tmpsnap_{clone_id}")
}

/// A clone made from a snapshot of a volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloneReport {
    /// Gluster's volume id of the clone.
    pub gluster_id: String,
    /// The clone's bricks, `host:/path`, in the source's brick order.
    pub bricks: Vec<String>,
}

#[async_trait]
pub trait Executor: Send + Sync {
    /// Is glusterd running on `host`?
    async fn glusterd_check(&self, host: &str) -> Result<(), ExecError>;
    /// From `exec_host`, add `storage_host` to the trusted pool.
    async fn peer_probe(&self, exec_host: &str, storage_host: &str) -> Result<(), ExecError>;
    /// From `exec_host`, drop `storage_host` from the pool. Failures are only logged.
    async fn peer_detach(&self, exec_host: &str, storage_host: &str) -> Result<(), ExecError>;
    /// pvcreate + vgcreate `vg_<device_id>` on `path`, wiping first when `destroy`.
    async fn device_setup(
        &self,
        host: &str,
        path: &str,
        device_id: &str,
        destroy: bool,
    ) -> Result<DeviceReport, DeviceSetupError>;
    /// Re-reads a device's sizes from LVM.
    async fn device_info(&self, host: &str, device: &DeviceHandle) -> Result<DeviceReport, ExecError>;
    /// vgremove + pvremove. A device already gone counts as removed.
    async fn device_teardown(&self, host: &str, device: &DeviceHandle) -> Result<(), ExecError>;
    /// Best-effort teardown that never fails.
    async fn device_forget(&self, host: &str, device: &DeviceHandle);
    /// Creates, formats and mounts a brick. Creating an existing identical
    /// brick succeeds, so a retried step is harmless.
    async fn brick_create(&self, host: &str, brick: &BrickSpec) -> Result<(), ExecError>;
    /// Unmounts and removes a brick; a missing brick counts as removed.
    /// Returns whether its space went back to the volume group.
    async fn brick_destroy(&self, host: &str, brick: &BrickSpec) -> Result<bool, ExecError>;
    /// Appends a brick's fstab line (as `brick_create` writes it) unless a
    /// line already mounts at its mount point.
    async fn brick_fstab_append(&self, host: &str, brick: &BrickSpec) -> Result<(), ExecError>;
    /// Creates and starts a gluster volume; an existing one with the same
    /// bricks counts as created.
    async fn volume_create(&self, host: &str, volume: &GlusterVolumeSpec) -> Result<(), ExecError>;
    /// Adds bricks (and rebalances); bricks already in the volume are skipped.
    async fn volume_expand(&self, host: &str, volume: &GlusterVolumeSpec) -> Result<(), ExecError>;
    /// Stops and deletes a gluster volume; a missing one counts as deleted.
    async fn volume_destroy(&self, host: &str, name: &str) -> Result<(), ExecError>;
    /// Snapshots `source` as `snapshot`, clones the snapshot as `clone`,
    /// starts the clone and deletes the snapshot.
    async fn volume_clone(
        &self,
        host: &str,
        source: &str,
        clone: &str,
        snapshot: &str,
    ) -> Result<CloneReport, ExecError>;
    /// Deactivates and deletes a snapshot; a missing one counts as deleted.
    async fn snapshot_destroy(&self, host: &str, snapshot: &str) -> Result<(), ExecError>;
    /// The volume's id and bricks as gluster reports them; `None` when
    /// gluster has no such volume.
    async fn volume_info(&self, host: &str, name: &str) -> Result<Option<GlusterVolumeInfo>, ExecError>;
    /// The volume's bricks as gluster lists them (`host:/path`, set by
    /// set); `None` when gluster has no such volume.
    async fn volume_bricks(&self, host: &str, name: &str) -> Result<Option<Vec<String>>, ExecError> {
        Ok(self.volume_info(host, name).await?.map(|v| v.bricks))
    }
    /// Every gluster volume of the trusted pool `host` is in, by name.
    async fn gluster_volumes(&self, host: &str) -> Result<Vec<(String, GlusterVolumeInfo)>, ExecError>;
    /// LVs, brick mounts, brick fstab lines and brick directories on
    /// `host` (for the check of the store against the nodes).
    async fn node_inventory(&self, host: &str) -> Result<NodeInventory, ExecError>;
    /// Every hostname of every other peer of the trusted pool `host` is
    /// in (`gluster peer status`), the node itself not included.
    async fn peer_hostnames(&self, host: &str) -> Result<Vec<String>, ExecError>;
    /// The examiner's view of the pool's volumes (`volume info --xml`, as
    /// Heketi's executor reads it).
    async fn examine_volumes(&self, host: &str) -> Result<examine::VolInfo, ExecError>;
    /// The examiner's LVM report of one kind (`pvs`, `vgs`, `lvs`), every row.
    async fn examine_lvm(&self, host: &str, kind: commands::LvmReportKind) -> Result<examine::LvmRows, ExecError>;
    /// Every fstab line of `host`, with whether its device is mounted.
    async fn examine_mounts(&self, host: &str) -> Result<examine::BricksMountStatus, ExecError>;
    /// Self-heal state of every brick of a replicated or dispersed volume.
    async fn heal_info(&self, host: &str, name: &str) -> Result<Vec<HealEntry>, ExecError>;
    /// `replace-brick ... commit force`: from here on gluster serves from
    /// `new` and heals it from the rest of its set.
    async fn brick_replace(&self, host: &str, volume: &str, old: &str, new: &str) -> Result<(), ExecError>;
    /// Starts healing a volume now (best effort: failures are only logged).
    async fn heal_start(&self, host: &str, name: &str) -> Result<(), ExecError>;
    /// `gluster-block create` of a block volume on its hosting volume.
    async fn block_volume_create(&self, host: &str, spec: &BlockVolumeSpec) -> Result<BlockVolumeCreated, ExecError>;
    /// `gluster-block delete`; a block volume (or hosting volume) already
    /// gone counts as deleted.
    async fn block_volume_delete(&self, host: &str, hosting_volume: &str, name: &str) -> Result<(), ExecError>;
    /// `gluster-block modify … size`: grows the block volume to `size_gib`.
    async fn block_volume_expand(
        &self,
        host: &str,
        hosting_volume: &str,
        name: &str,
        size_gib: u64,
    ) -> Result<(), ExecError>;
    /// `gluster-block info`; `None` when there is no such block volume.
    async fn block_volume_info(
        &self,
        host: &str,
        hosting_volume: &str,
        name: &str,
    ) -> Result<Option<BlockVolumeReport>, ExecError>;
    /// `gluster-block list`: the names of the block volumes on a hosting
    /// volume (for the examiner).
    async fn block_volume_names(&self, host: &str, hosting_volume: &str) -> Result<Vec<String>, ExecError>;
    /// Connection and command counters of a real transport.
    fn transport_stats(&self) -> Option<transport::StatsSnapshot> {
        None
    }
    /// The simulated node state, when the nodes are the mock's (an error
    /// when its state could not be loaded).
    fn mock_nodes(&self) -> Option<Result<mock::MockNodes, mock::LoadError>> {
        None
    }
}
