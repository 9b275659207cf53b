//! Brick commands: a brick's thin pool and LV, its XFS file system, mount
//! and fstab line, their teardown, and the node inventory that lists them.

use super::{q, Command, CommandConfig, Touches};
use crate::executor::{BrickSpec, BRICK_MOUNT_ROOTS};

/// The commands of a brick teardown, run one at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct BrickDestroySteps {
    pub umount: Command,
    /// None for snapshot-clone bricks, which glusterd mounts itself.
    pub fstab: Option<Command>,
    pub lv_remove: Command,
    pub thin_count: Command,
    pub pool_remove: Command,
    pub rmdir: Command,
}

impl CommandConfig {
    pub fn lsof(&self, mount_point: &str) -> Command {
        Command::read(format!("lsof {}", q(mount_point)))
    }

    /// The node's mounts, as `mount` lists them.
    pub fn mounts(&self) -> Command {
        Command::read("mount")
    }

    /// The node's fstab, as configured.
    pub fn fstab_read(&self) -> Command {
        Command::read(format!("cat {}", q(&self.fstab)))
    }

    /// What a node holds: LVs, mounts, fstab and brick directories (for
    /// the check against the store). The directories are looked for three
    /// levels down, `<root>/vg_*/brick_*/brick`, inside the mounted file
    /// systems; nothing of the request reaches this line.
    pub fn inventory(&self) -> [Command; 4] {
        [
            Command::read(format!(
                "{} lvs --reportformat=json -o vg_name,lv_name,pool_lv,origin",
                self.lvm()
            )),
            Command::read("cat /proc/mounts"),
            self.fstab_read(),
            Command::read(format!(
                "find {} -mindepth 3 -maxdepth 3 -type d -name brick",
                BRICK_MOUNT_ROOTS[0].trim_end_matches('/')
            )),
        ]
    }

    fn device_node(brick: &BrickSpec) -> String {
        format!("/dev/mapper/vg_{}-brick_{}", brick.device_id, brick.brick_id)
    }

    /// The brick's fstab line, as `brick_create` appends it.
    pub fn fstab_line(&self, brick: &BrickSpec) -> String {
        format!(
            "{} {} xfs {} 1 2",
            Self::device_node(brick),
            brick.mount_point(),
            self.mount_opts
        )
    }

    /// Heketi's append of the brick's fstab line.
    pub fn fstab_append(&self, brick: &BrickSpec) -> Command {
        Command::new(
            Touches::Fstab,
            format!(
                "awk \"BEGIN {{print \\\"{}\\\" >> \\\"{}\\\"}}\"",
                self.fstab_line(brick),
                self.fstab
            ),
        )
    }

    pub fn brick_create(&self, brick: &BrickSpec) -> Vec<Command> {
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
            Command::new(Touches::Files, format!("mkdir -p {}", q(&mnt))),
            Command::new(Touches::Lvm, format!(
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
            )),
            Command::new(Touches::Files, mkfs),
            self.fstab_append(brick),
            Command::new(
                Touches::Files,
                format!("mount -o {} {} {}", q(&self.mount_opts), q(&dev), q(&mnt)),
            ),
            Command::new(Touches::Files, format!("mkdir {}", q(&brick.path))),
        ];
        if brick.gid != 0 {
            out.push(Command::new(
                Touches::Files,
                format!("chown :{} {}", brick.gid, q(&brick.path)),
            ));
            out.push(Command::new(Touches::Files, format!("chmod 2775 {}", q(&brick.path))));
        }
        out
    }

    /// Brick teardown, one command per step: the executor decides after
    /// each whether to go on.
    pub fn brick_destroy_steps(&self, brick: &BrickSpec) -> BrickDestroySteps {
        let mnt = brick.mount_point();
        let lvremove = |lv: &str| {
            Command::new(
                Touches::Lvm,
                format!(
                    "{} lvremove --autobackup={} -f {}/{}",
                    self.lvm(),
                    self.autobackup(),
                    brick.vg(),
                    q(lv)
                ),
            )
        };
        BrickDestroySteps {
            umount: Command::new(Touches::Files, format!("umount {}", q(&mnt))),
            fstab: (!brick.mounted_by_gluster()).then(|| {
                Command::new(
                    Touches::Fstab,
                    format!("sed -i.save \"/brick_{}/d\" {}", brick.brick_id, q(&self.fstab)),
                )
            }),
            lv_remove: lvremove(&brick.lv),
            thin_count: Command::read(format!(
                "{} lvs --noheadings --options=thin_count {}/{}",
                self.lvm(),
                brick.vg(),
                q(&brick.thin_pool)
            )),
            pool_remove: lvremove(&brick.thin_pool),
            rmdir: Command::new(Touches::Files, format!("rmdir {}", q(&mnt))),
        }
    }

    pub fn brick_destroy(&self, brick: &BrickSpec) -> Vec<Command> {
        let steps = self.brick_destroy_steps(brick);
        let mut out = vec![steps.umount];
        out.extend(steps.fstab);
        out.extend([steps.lv_remove, steps.thin_count, steps.pool_remove, steps.rmdir]);
        out
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
    fn only_the_fstab_edits_touch_the_fstab() {
        let c = CommandConfig::default();
        let touches = |cmds: &[Command]| cmds.iter().map(|c| c.touches).collect::<Vec<_>>();
        let create = c.brick_create(&brick(2001, false));
        assert_eq!(
            touches(&create),
            [
                Touches::Files,
                Touches::Lvm,
                Touches::Files,
                Touches::Fstab,
                Touches::Files,
                Touches::Files,
                Touches::Files,
                Touches::Files
            ]
        );
        let destroy = c.brick_destroy(&brick(0, false));
        assert_eq!(
            touches(&destroy),
            [
                Touches::Files,
                Touches::Fstab,
                Touches::Lvm,
                Touches::Nothing,
                Touches::Lvm,
                Touches::Files
            ]
        );
        assert!(c.inventory().iter().all(|c| c.touches == Touches::Nothing));
        assert_eq!(
            c.inventory()[3],
            "find /var/lib/heketi/mounts -mindepth 3 -maxdepth 3 -type d -name brick"
        );
        let odd = CommandConfig {
            fstab: "/etc/fstab; reboot".into(),
            ..CommandConfig::default()
        };
        assert_eq!(odd.fstab_read(), "cat '/etc/fstab; reboot'");
    }
}
