//! Command builders: the exact command lines Heketi runs on storage nodes,
//! as pure functions. Transports run them; the mock records them. Every
//! value from a request is validated upstream and shell-quoted here, so a
//! hostile value can never become a command of its own; values that need
//! no quoting come out exactly as Heketi writes them.

use std::borrow::Cow;

use super::{BrickSpec, GlusterVolumeSpec, VolumeLayout};
use crate::config::ExecConfigFile;

/// The settings command lines depend on (`sshexec`/`kubeexec` options).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandConfig {
    pub fstab: String,
    pub mount_opts: String,
    pub lvm_wrapper: String,
    pub backup_lvm_metadata: bool,
    pub gluster_cli_timeout: u64,
    pub pv_data_alignment: String,
    pub vg_extent_size: String,
    pub lv_chunk_size: String,
    pub xfs_su: i64,
    pub xfs_sw: i64,
    pub rebalance_on_expansion: bool,
    pub snapshot_limit: i64,
}

impl From<&ExecConfigFile> for CommandConfig {
    fn from(c: &ExecConfigFile) -> Self {
        CommandConfig {
            fstab: c.fstab.clone(),
            mount_opts: c.mountopts.clone(),
            lvm_wrapper: c.lvm_wrapper.clone(),
            backup_lvm_metadata: c.backup_lvm_metadata,
            gluster_cli_timeout: c.gluster_cli_timeout,
            pv_data_alignment: c.pv_data_alignment.clone(),
            vg_extent_size: c.vg_physicalextentsize.clone(),
            lv_chunk_size: c.lv_chunksize.clone(),
            xfs_su: c.xfs_su,
            xfs_sw: c.xfs_sw,
            rebalance_on_expansion: c.rebalance_on_expansion,
            snapshot_limit: c.snapshot_limit,
        }
    }
}

impl Default for CommandConfig {
    fn default() -> Self {
        CommandConfig {
            fstab: "/etc/fstab".into(),
            mount_opts: "rw,inode64,noatime,nouuid".into(),
            lvm_wrapper: String::new(),
            backup_lvm_metadata: false,
            gluster_cli_timeout: 600,
            pv_data_alignment: "256K".into(),
            vg_extent_size: "4M".into(),
            lv_chunk_size: "256K".into(),
            xfs_su: 0,
            xfs_sw: 0,
            rebalance_on_expansion: true,
            snapshot_limit: 0,
        }
    }
}

/// The commands of a brick teardown, run one at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct BrickDestroySteps {
    pub umount: String,
    /// None for snapshot-clone bricks, which glusterd mounts itself.
    pub fstab: Option<String>,
    pub lv_remove: String,
    pub thin_count: String,
    pub pool_remove: String,
    pub rmdir: String,
}

/// Quotes for a POSIX shell when needed. Values made only of characters a
/// shell never interprets pass unchanged, so command lines stay exactly as
/// Heketi writes them.
pub fn q(value: &str) -> Cow<'_, str> {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=,@%+-".contains(c));
    if plain {
        Cow::Borrowed(value)
    } else {
        shlex::try_quote(value).unwrap_or(Cow::Owned("''".into()))
    }
}

impl CommandConfig {
    fn gluster(&self) -> String {
        format!("gluster --mode=script --timeout={}", self.gluster_cli_timeout)
    }
    fn lvm(&self) -> String {
        if self.lvm_wrapper.is_empty() {
            "/usr/sbin/lvm".into()
        } else {
            format!("{} /usr/sbin/lvm", self.lvm_wrapper)
        }
    }
    fn udevadm(&self) -> String {
        if self.lvm_wrapper.is_empty() {
            "/usr/bin/udevadm".into()
        } else {
            format!("{} /usr/bin/udevadm", self.lvm_wrapper)
        }
    }
    fn autobackup(&self) -> &'static str {
        if self.backup_lvm_metadata {
            "y"
        } else {
            "n"
        }
    }

    pub fn glusterd_check(&self) -> Vec<String> {
        vec!["systemctl status glusterd".into()]
    }

    pub fn peer_probe(&self, storage_host: &str) -> Vec<String> {
        let mut out = vec![format!("{} peer probe {}", self.gluster(), q(storage_host))];
        if self.snapshot_limit > 0 {
            out.push(format!(
                "{} snapshot config snap-max-hard-limit {}",
                self.gluster(),
                self.snapshot_limit
            ));
        }
        out
    }

    pub fn peer_detach(&self, storage_host: &str) -> Vec<String> {
        vec![format!("{} peer detach {}", self.gluster(), q(storage_host))]
    }

    pub fn device_setup(&self, path: &str, device_id: &str, destroy: bool) -> Vec<String> {
        let mut out = Vec::new();
        if destroy {
            out.push(format!("wipefs --all {}", q(path)));
        }
        out.push(format!(
            "{} pvcreate -qq --metadatasize=128M --dataalignment={} '{}'",
            self.lvm(),
            q(&self.pv_data_alignment),
            path.replace('\'', "'\\''")
        ));
        out.push(format!(
            "{} vgcreate -qq --physicalextentsize={} --autobackup={} vg_{} {}",
            self.lvm(),
            q(&self.vg_extent_size),
            self.autobackup(),
            q(device_id),
            q(path)
        ));
        out
    }

    pub fn vgdisplay(&self, device_id: &str) -> String {
        format!("{} vgdisplay -c vg_{}", self.lvm(), q(device_id))
    }

    /// The device-handle query: the PV on `path` and its volume group.
    pub fn pvs_report(&self, path: &str) -> String {
        format!(
            "{} pvs -o pv_name,pv_uuid,vg_name --reportformat=json {}",
            self.lvm(),
            q(path)
        )
    }

    /// The PV behind `vg_<device_id>`, for handles stored without a UUID.
    pub fn vgs_report(&self, device_id: &str) -> String {
        format!(
            "{} vgs -o pv_name,pv_uuid,vg_name --reportformat=json vg_{}",
            self.lvm(),
            q(device_id)
        )
    }

    pub fn udev_symlinks(&self, path: &str) -> String {
        format!("{} info --query=symlink --name={}", self.udevadm(), q(path))
    }

    pub fn vgremove(&self, device_id: &str) -> String {
        format!("{} vgremove -qq vg_{}", self.lvm(), q(device_id))
    }

    pub fn pvremove(&self, path: &str) -> String {
        format!("{} pvremove -qq '{}'", self.lvm(), path.replace('\'', "'\\''"))
    }

    pub fn device_dir_remove(&self, device_id: &str) -> String {
        format!("rmdir /var/lib/heketi/mounts/vg_{}", q(device_id))
    }

    pub fn device_teardown(&self, device_id: &str, path: &str) -> Vec<String> {
        vec![
            self.vgremove(device_id),
            self.pvremove(path),
            self.device_dir_remove(device_id),
        ]
    }

    pub fn lsof(&self, mount_point: &str) -> String {
        format!("lsof {}", q(mount_point))
    }

    /// Every volume of the trusted pool.
    pub fn volume_info_all(&self) -> String {
        format!("{} volume info --xml", self.gluster())
    }

    /// What a node holds: LVs, mounts, fstab (for the check against the store).
    pub fn inventory(&self) -> [String; 3] {
        [
            format!(
                "{} lvs --reportformat=json -o vg_name,lv_name,pool_lv,origin",
                self.lvm()
            ),
            "cat /proc/mounts".into(),
            format!("cat {}", q(&self.fstab)),
        ]
    }

    pub fn volume_info(&self, name: &str) -> String {
        format!("{} volume info {} --xml", self.gluster(), q(name))
    }

    fn device_node(brick: &BrickSpec) -> String {
        format!("/dev/mapper/vg_{}-brick_{}", brick.device_id, brick.brick_id)
    }

    pub fn brick_create(&self, brick: &BrickSpec) -> Vec<String> {
        let mnt = brick.mount_point();
        let dev = Self::device_node(brick);
        let chunk = if brick.arbiter {
            "256K"
        } else {
            self.lv_chunk_size.as_str()
        };
        let mkfs = if brick.arbiter {
            format!("mkfs.xfs -i maxpct=100 -n size=8192 {dev}")
        } else if self.xfs_su != 0 && self.xfs_sw != 0 {
            format!(
                "mkfs.xfs -i size=512 -d su={},sw={} -n size=8192 {dev}",
                self.xfs_su, self.xfs_sw
            )
        } else {
            format!("mkfs.xfs -i size=512 -n size=8192 {dev}")
        };
        let mut out = vec![
            format!("mkdir -p {}", q(&mnt)),
            format!(
                "{} lvcreate -qq --autobackup={} --poolmetadatasize {}K --chunksize {} --size {}K --thin {}/{} --virtualsize {}K --name {}",
                self.lvm(),
                self.autobackup(),
                brick.meta_kib,
                q(chunk),
                brick.tp_kib,
                brick.vg(),
                q(&brick.thin_pool),
                brick.size_kib,
                q(&brick.lv)
            ),
            mkfs,
            format!(
                "awk \"BEGIN {{print \\\"{dev} {mnt} xfs {} 1 2\\\" >> \\\"{}\\\"}}\"",
                self.mount_opts, self.fstab
            ),
            format!("mount -o {} {} {}", q(&self.mount_opts), q(&dev), q(&mnt)),
            format!("mkdir {}", q(&brick.path)),
        ];
        if brick.gid != 0 {
            out.push(format!("chown :{} {}", brick.gid, q(&brick.path)));
            out.push(format!("chmod 2775 {}", q(&brick.path)));
        }
        out
    }

    /// Brick teardown, one command per step: the executor decides after
    /// each whether to go on.
    pub fn brick_destroy_steps(&self, brick: &BrickSpec) -> BrickDestroySteps {
        let mnt = brick.mount_point();
        let lvremove = |lv: &str| {
            format!(
                "{} lvremove --autobackup={} -f {}/{}",
                self.lvm(),
                self.autobackup(),
                brick.vg(),
                q(lv)
            )
        };
        BrickDestroySteps {
            umount: format!("umount {}", q(&mnt)),
            fstab: (!brick.mounted_by_gluster())
                .then(|| format!("sed -i.save \"/brick_{}/d\" {}", brick.brick_id, q(&self.fstab))),
            lv_remove: lvremove(&brick.lv),
            thin_count: format!(
                "{} lvs --noheadings --options=thin_count {}/{}",
                self.lvm(),
                brick.vg(),
                q(&brick.thin_pool)
            ),
            pool_remove: lvremove(&brick.thin_pool),
            rmdir: format!("rmdir {}", q(&mnt)),
        }
    }

    pub fn brick_destroy(&self, brick: &BrickSpec) -> Vec<String> {
        let steps = self.brick_destroy_steps(brick);
        let mut out = vec![steps.umount];
        out.extend(steps.fstab);
        out.extend([steps.lv_remove, steps.thin_count, steps.pool_remove, steps.rmdir]);
        out
    }

    fn add_brick_chunks(&self, volume: &GlusterVolumeSpec, from: usize) -> Vec<String> {
        let (in_set, per_cmd) = match volume.layout {
            VolumeLayout::Distribute => (1, 15),
            VolumeLayout::Replicate { replica, .. } => (replica as usize, 5),
            VolumeLayout::Disperse { data, redundancy } => ((data + redundancy) as usize, 1),
        };
        volume.bricks[from.min(volume.bricks.len())..]
            .chunks((in_set * per_cmd).max(1))
            .map(|chunk| {
                let bricks: String = chunk.iter().map(|b| format!("{} ", q(b))).collect();
                format!("{} volume add-brick {} {bricks}", self.gluster(), q(&volume.name))
            })
            .collect()
    }

    pub fn volume_create(&self, volume: &GlusterVolumeSpec) -> Vec<String> {
        let (keywords, in_set) = match volume.layout {
            VolumeLayout::Distribute => (String::new(), 1),
            VolumeLayout::Replicate { replica, arbiter } => (
                format!("replica {replica} {}", if arbiter { "arbiter 1 " } else { "" }),
                replica as usize,
            ),
            VolumeLayout::Disperse { data, redundancy } => (
                format!("disperse-data {data} redundancy {redundancy} "),
                (data + redundancy) as usize,
            ),
        };
        let first: String = volume
            .bricks
            .iter()
            .take(in_set)
            .map(|b| format!("{} ", q(b)))
            .collect();
        let mut out = vec![format!(
            "{} volume create {} {keywords}{first}",
            self.gluster(),
            q(&volume.name)
        )];
        out.extend(self.add_brick_chunks(volume, in_set));
        for option in volume.options.iter().filter(|o| !o.trim().is_empty()) {
            let quoted: Vec<String> = option.split_whitespace().map(|w| q(w).into_owned()).collect();
            out.push(format!(
                "{} volume set {} {}",
                self.gluster(),
                q(&volume.name),
                quoted.join(" ")
            ));
        }
        out.push(format!("{} volume start {}", self.gluster(), q(&volume.name)));
        out
    }

    /// `add-brick` commands, and the rebalance to start after them.
    pub fn volume_expand_steps(&self, volume: &GlusterVolumeSpec) -> (Vec<String>, Option<String>) {
        let rebalance = self
            .rebalance_on_expansion
            .then(|| format!("{} volume rebalance {} start", self.gluster(), q(&volume.name)));
        (self.add_brick_chunks(volume, 0), rebalance)
    }

    pub fn volume_expand(&self, volume: &GlusterVolumeSpec) -> Vec<String> {
        let (mut out, rebalance) = self.volume_expand_steps(volume);
        out.extend(rebalance);
        out
    }

    pub fn volume_destroy(&self, name: &str) -> Vec<String> {
        vec![
            format!("{} volume stop {} force", self.gluster(), q(name)),
            format!("{} volume delete {}", self.gluster(), q(name)),
        ]
    }

    /// Heketi's heal check query.
    pub fn heal_info(&self, name: &str) -> String {
        format!("{} volume heal {} info --xml", self.gluster(), q(name))
    }

    /// Starts an index heal now instead of at the self-heal daemon's next crawl.
    pub fn heal_start(&self, name: &str) -> String {
        format!("{} volume heal {}", self.gluster(), q(name))
    }

    /// Swaps one brick (`host:/path`) for another; gluster heals the new one.
    pub fn brick_replace(&self, volume: &str, old: &str, new: &str) -> String {
        format!(
            "{} volume replace-brick {} {} {} commit force",
            self.gluster(),
            q(volume),
            q(old),
            q(new)
        )
    }

    /// Snapshot deactivate and delete (the undo of a clone's leftovers).
    pub fn snapshot_destroy(&self, snapshot: &str) -> [String; 2] {
        let g = self.gluster();
        [
            format!("{g} snapshot deactivate {}", q(snapshot)),
            format!("{g} snapshot delete {}", q(snapshot)),
        ]
    }

    /// Snapshot create, activate, clone, clone start, deactivate, delete.
    pub fn volume_clone(&self, source: &str, clone: &str, snapshot: &str) -> [String; 6] {
        let g = self.gluster();
        [
            format!("{g} --xml snapshot create {} {} no-timestamp", q(snapshot), q(source)),
            format!("{g} --xml snapshot activate {}", q(snapshot)),
            format!("{g} --xml snapshot clone {} {}", q(clone), q(snapshot)),
            format!("{g} --xml volume start {}", q(clone)),
            format!("{g} --xml snapshot deactivate {}", q(snapshot)),
            format!("{g} --xml snapshot delete {}", q(snapshot)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brick(gid: i64, arbiter: bool) -> BrickSpec {
        BrickSpec {
            device_id: "d".repeat(32),
            brick_id: "b".repeat(32),
            thin_pool: format!("tp_{}", "b".repeat(32)),
            lv: format!("brick_{}", "b".repeat(32)),
            size_kib: 10_485_760,
            tp_kib: 10_485_760,
            meta_kib: 53_248,
            gid,
            arbiter,
            path: crate::executor::brick_path(&"d".repeat(32), &"b".repeat(32)),
        }
    }

    #[test]
    fn brick_create_is_heketis_batch() {
        let c = CommandConfig::default();
        let d = "d".repeat(32);
        let b = "b".repeat(32);
        let cmds = c.brick_create(&brick(2001, false));
        assert_eq!(cmds[0], format!("mkdir -p /var/lib/heketi/mounts/vg_{d}/brick_{b}"));
        assert_eq!(cmds[1], format!("/usr/sbin/lvm lvcreate -qq --autobackup=n --poolmetadatasize 53248K --chunksize 256K --size 10485760K --thin vg_{d}/tp_{b} --virtualsize 10485760K --name brick_{b}"));
        assert_eq!(
            cmds[2],
            format!("mkfs.xfs -i size=512 -n size=8192 /dev/mapper/vg_{d}-brick_{b}")
        );
        assert_eq!(cmds[3], format!("awk \"BEGIN {{print \\\"/dev/mapper/vg_{d}-brick_{b} /var/lib/heketi/mounts/vg_{d}/brick_{b} xfs rw,inode64,noatime,nouuid 1 2\\\" >> \\\"/etc/fstab\\\"}}\""));
        assert_eq!(cmds[4], format!("mount -o rw,inode64,noatime,nouuid /dev/mapper/vg_{d}-brick_{b} /var/lib/heketi/mounts/vg_{d}/brick_{b}"));
        assert_eq!(cmds[5], format!("mkdir /var/lib/heketi/mounts/vg_{d}/brick_{b}/brick"));
        assert_eq!(
            cmds[6],
            format!("chown :2001 /var/lib/heketi/mounts/vg_{d}/brick_{b}/brick")
        );
        assert_eq!(
            cmds[7],
            format!("chmod 2775 /var/lib/heketi/mounts/vg_{d}/brick_{b}/brick")
        );
        assert_eq!(c.brick_create(&brick(0, false)).len(), 6);
        let arb = c.brick_create(&brick(0, true));
        assert!(arb[2].starts_with("mkfs.xfs -i maxpct=100 -n size=8192 "));
        let striped = CommandConfig {
            xfs_su: 64,
            xfs_sw: 4,
            lvm_wrapper: "/usr/sbin/exec-on-host".into(),
            ..CommandConfig::default()
        };
        let cmds = striped.brick_create(&brick(0, false));
        assert!(cmds[1].starts_with("/usr/sbin/exec-on-host /usr/sbin/lvm lvcreate"));
        assert!(cmds[2].starts_with("mkfs.xfs -i size=512 -d su=64,sw=4 -n size=8192 "));
    }

    #[test]
    fn brick_destroy_removes_fstab_before_lvm() {
        let cmds = CommandConfig::default().brick_destroy(&brick(0, false));
        let b = "b".repeat(32);
        assert!(cmds[0].starts_with("umount "));
        assert_eq!(cmds[1], format!("sed -i.save \"/brick_{b}/d\" /etc/fstab"));
        assert!(cmds[2].contains("lvremove --autobackup=n -f"));
        assert!(cmds[3].contains("lvs --noheadings --options=thin_count"));
    }

    #[test]
    fn volume_create_batches_bricks_like_heketi() {
        let c = CommandConfig::default();
        let bricks: Vec<String> = (0..12).map(|i| format!("10.0.0.{}:/b{i}/brick", i % 3 + 1)).collect();
        let v = GlusterVolumeSpec {
            name: "vol_1".into(),
            layout: VolumeLayout::Replicate {
                replica: 3,
                arbiter: false,
            },
            bricks,
            options: vec!["".into(), "performance.rda-cache-limit 10MB".into(), "".into()],
        };
        let cmds = c.volume_create(&v);
        assert_eq!(cmds[0], "gluster --mode=script --timeout=600 volume create vol_1 replica 3 10.0.0.1:/b0/brick 10.0.0.2:/b1/brick 10.0.0.3:/b2/brick ");
        assert!(cmds[1].starts_with("gluster --mode=script --timeout=600 volume add-brick vol_1 10.0.0.1:/b3/brick "));
        assert_eq!(
            cmds[2],
            "gluster --mode=script --timeout=600 volume set vol_1 performance.rda-cache-limit 10MB"
        );
        assert_eq!(cmds[3], "gluster --mode=script --timeout=600 volume start vol_1");
        let arb = GlusterVolumeSpec {
            layout: VolumeLayout::Replicate {
                replica: 3,
                arbiter: true,
            },
            ..v.clone()
        };
        assert!(c.volume_create(&arb)[0].contains(" replica 3 arbiter 1 10.0.0.1:"));
        let ec = GlusterVolumeSpec {
            layout: VolumeLayout::Disperse { data: 4, redundancy: 2 },
            ..v
        };
        assert!(c.volume_create(&ec)[0].contains(" disperse-data 4 redundancy 2 10.0.0.1:"));
    }

    #[test]
    fn hostile_values_are_quoted_not_run() {
        let c = CommandConfig::default();
        assert_eq!(
            c.peer_probe("node1")[0],
            "gluster --mode=script --timeout=600 peer probe node1"
        );
        let evil = c.peer_probe("n1; reboot");
        assert_eq!(evil[0], "gluster --mode=script --timeout=600 peer probe 'n1; reboot'");
        let set = c.volume_create(&GlusterVolumeSpec {
            name: "v".into(),
            layout: VolumeLayout::Distribute,
            bricks: vec!["h:/p".into()],
            options: vec!["user.x $(rm -rf /)".into()],
        });
        assert!(
            set.iter().any(|l| l.ends_with("volume set v user.x '$(rm' -rf '/)'")),
            "{set:?}"
        );
        let dev = c.device_setup("/dev/sd'b", "d", true);
        assert_eq!(dev[0], "wipefs --all \"/dev/sd'b\"");
        assert_eq!(
            c.device_setup("/dev/$(reboot)", "d", true)[0],
            "wipefs --all '/dev/$(reboot)'"
        );
        assert!(dev[1].ends_with("'/dev/sd'\\''b'"));
    }

    #[test]
    fn device_and_peer_commands() {
        let c = CommandConfig {
            snapshot_limit: 14,
            ..CommandConfig::default()
        };
        assert_eq!(c.peer_probe("10.0.0.2").len(), 2);
        let d = c.device_setup("/dev/sdb", "abc", false);
        assert_eq!(
            d[0],
            "/usr/sbin/lvm pvcreate -qq --metadatasize=128M --dataalignment=256K '/dev/sdb'"
        );
        assert_eq!(
            d[1],
            "/usr/sbin/lvm vgcreate -qq --physicalextentsize=4M --autobackup=n vg_abc /dev/sdb"
        );
        assert_eq!(
            c.peer_probe("10.0.0.2"),
            [
                "gluster --mode=script --timeout=600 peer probe 10.0.0.2",
                "gluster --mode=script --timeout=600 snapshot config snap-max-hard-limit 14"
            ]
        );
        assert_eq!(
            c.peer_detach("n2"),
            ["gluster --mode=script --timeout=600 peer detach n2"]
        );
        assert_eq!(c.glusterd_check(), ["systemctl status glusterd"]);
    }

    #[test]
    fn device_queries_and_teardown() {
        let c = CommandConfig::default();
        assert_eq!(
            c.pvs_report("/dev/sdb"),
            "/usr/sbin/lvm pvs -o pv_name,pv_uuid,vg_name --reportformat=json /dev/sdb"
        );
        assert_eq!(
            c.vgs_report("abc"),
            "/usr/sbin/lvm vgs -o pv_name,pv_uuid,vg_name --reportformat=json vg_abc"
        );
        assert_eq!(c.vgdisplay("abc"), "/usr/sbin/lvm vgdisplay -c vg_abc");
        assert_eq!(
            c.udev_symlinks("/dev/sdb"),
            "/usr/bin/udevadm info --query=symlink --name=/dev/sdb"
        );
        assert_eq!(
            c.device_teardown("abc", "/dev/sdb"),
            [
                "/usr/sbin/lvm vgremove -qq vg_abc",
                "/usr/sbin/lvm pvremove -qq '/dev/sdb'",
                "rmdir /var/lib/heketi/mounts/vg_abc"
            ]
        );
        let wrapped = CommandConfig {
            lvm_wrapper: "/usr/sbin/exec-on-host".into(),
            ..CommandConfig::default()
        };
        assert_eq!(
            wrapped.udev_symlinks("/dev/sdb"),
            "/usr/sbin/exec-on-host /usr/bin/udevadm info --query=symlink --name=/dev/sdb"
        );
        assert!(wrapped
            .vgremove("abc")
            .starts_with("/usr/sbin/exec-on-host /usr/sbin/lvm vgremove"));
    }

    #[test]
    fn heal_and_replace_brick_commands() {
        let c = CommandConfig::default();
        assert_eq!(
            c.heal_info("vol_1"),
            "gluster --mode=script --timeout=600 volume heal vol_1 info --xml"
        );
        assert_eq!(
            c.brick_replace("vol_1", "h1:/var/lib/heketi/mounts/vg_a/brick_b/brick", "h2:/p/brick"),
            "gluster --mode=script --timeout=600 volume replace-brick vol_1 \
             h1:/var/lib/heketi/mounts/vg_a/brick_b/brick h2:/p/brick commit force"
        );
        assert_eq!(
            c.heal_start("vol_1"),
            "gluster --mode=script --timeout=600 volume heal vol_1"
        );
        let hostile = c.brick_replace("v;reboot", "h:/a b", "$(id):/x");
        assert_eq!(
            hostile,
            "gluster --mode=script --timeout=600 volume replace-brick 'v;reboot' 'h:/a b' '$(id):/x' commit force"
        );
    }

    #[test]
    fn gluster_queries_expand_and_destroy() {
        let c = CommandConfig::default();
        assert_eq!(
            c.volume_info("vol_1"),
            "gluster --mode=script --timeout=600 volume info vol_1 --xml"
        );
        assert_eq!(
            c.volume_destroy("vol_1"),
            [
                "gluster --mode=script --timeout=600 volume stop vol_1 force",
                "gluster --mode=script --timeout=600 volume delete vol_1"
            ]
        );
        let spec = GlusterVolumeSpec {
            name: "vol_1".into(),
            layout: VolumeLayout::Replicate {
                replica: 3,
                arbiter: false,
            },
            bricks: vec!["a:/1".into(), "b:/2".into(), "c:/3".into()],
            options: vec![],
        };
        assert_eq!(
            c.volume_expand(&spec),
            [
                "gluster --mode=script --timeout=600 volume add-brick vol_1 a:/1 b:/2 c:/3 ",
                "gluster --mode=script --timeout=600 volume rebalance vol_1 start"
            ]
        );
        let no_rebalance = CommandConfig {
            rebalance_on_expansion: false,
            backup_lvm_metadata: true,
            ..CommandConfig::default()
        };
        assert_eq!(no_rebalance.volume_expand(&spec).len(), 1);
        assert!(no_rebalance.vgremove("a").ends_with("vgremove -qq vg_a"));
        let g = "gluster --mode=script --timeout=600 --xml";
        assert_eq!(
            c.volume_clone("src", "dst", "tmpsnap_1"),
            [
                format!("{g} snapshot create tmpsnap_1 src no-timestamp"),
                format!("{g} snapshot activate tmpsnap_1"),
                format!("{g} snapshot clone dst tmpsnap_1"),
                format!("{g} volume start dst"),
                format!("{g} snapshot deactivate tmpsnap_1"),
                format!("{g} snapshot delete tmpsnap_1"),
            ]
        );
    }
}
