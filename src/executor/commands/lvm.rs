//! Device commands: the PV and volume group of a device (`vg_<device id>`),
//! the queries that find and size it, and its teardown.

use super::{q, Command, CommandConfig, Touches};

/// Which of LVM's reports the examiner asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LvmReportKind {
    Pvs,
    Vgs,
    Lvs,
}

impl LvmReportKind {
    fn program(self) -> &'static str {
        match self {
            LvmReportKind::Pvs => "pvs",
            LvmReportKind::Vgs => "vgs",
            LvmReportKind::Lvs => "lvs",
        }
    }
}

impl CommandConfig {
    pub fn device_setup(&self, path: &str, device_id: &str, destroy: bool) -> Vec<Command> {
        let mut out = Vec::new();
        if destroy {
            out.push(Command::new(Touches::Lvm, format!("wipefs --all {}", q(path))));
        }
        out.push(Command::new(
            Touches::Lvm,
            format!(
                "{} pvcreate -qq --metadatasize=128M --dataalignment={} '{}'",
                self.lvm(),
                q(&self.pv_data_alignment),
                path.replace('\'', "'\\''")
            ),
        ));
        out.push(Command::new(
            Touches::Lvm,
            format!(
                "{} vgcreate -qq --physicalextentsize={} --autobackup={} vg_{} {}",
                self.lvm(),
                q(&self.vg_extent_size),
                self.autobackup(),
                q(device_id),
                q(path)
            ),
        ));
        out
    }

    pub fn vgdisplay(&self, device_id: &str) -> Command {
        Command::read(format!("{} vgdisplay -c vg_{}", self.lvm(), q(device_id)))
    }

    /// The device-handle query: the PV on `path` and its volume group.
    pub fn pvs_report(&self, path: &str) -> Command {
        Command::read(format!(
            "{} pvs -o pv_name,pv_uuid,vg_name --reportformat=json {}",
            self.lvm(),
            q(path)
        ))
    }

    /// The PV behind `vg_<device_id>`, for handles stored without a UUID.
    pub fn vgs_report(&self, device_id: &str) -> Command {
        Command::read(format!(
            "{} vgs -o pv_name,pv_uuid,vg_name --reportformat=json vg_{}",
            self.lvm(),
            q(device_id)
        ))
    }

    /// The examiner's report of every PV, VG or LV on the node, sizes in KiB.
    pub fn lvm_report(&self, kind: LvmReportKind) -> Command {
        Command::read(format!(
            "{} {} --reportformat json --units k",
            self.lvm(),
            kind.program()
        ))
    }

    pub fn udev_symlinks(&self, path: &str) -> Command {
        Command::read(format!("{} info --query=symlink --name={}", self.udevadm(), q(path)))
    }

    pub fn vgremove(&self, device_id: &str) -> Command {
        Command::new(Touches::Lvm, format!("{} vgremove -qq vg_{}", self.lvm(), q(device_id)))
    }

    pub fn pvremove(&self, path: &str) -> Command {
        Command::new(
            Touches::Lvm,
            format!("{} pvremove -qq '{}'", self.lvm(), path.replace('\'', "'\\''")),
        )
    }

    pub fn device_dir_remove(&self, device_id: &str) -> Command {
        Command::new(
            Touches::Files,
            format!("rmdir /var/lib/heketi/mounts/vg_{}", q(device_id)),
        )
    }

    pub fn device_teardown(&self, device_id: &str, path: &str) -> Vec<Command> {
        vec![
            self.vgremove(device_id),
            self.pvremove(path),
            self.device_dir_remove(device_id),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            c.lvm_report(LvmReportKind::Vgs),
            "/usr/sbin/lvm vgs --reportformat json --units k"
        );
        assert_eq!(c.lvm_report(LvmReportKind::Pvs).touches, Touches::Nothing);
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
}
