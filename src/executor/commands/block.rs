//! gluster-block commands: create, delete, modify (grow), info and list of
//! block volumes, exactly as Heketi writes them (`hosting/name`, sizes in
//! GiB, `--json`). Run without the gluster prefix or the LVM wrapper.

use super::{q, Command, CommandConfig, Touches};
use crate::executor::BlockVolumeSpec;

fn target(hosting_volume: &str, name: &str) -> String {
    q(&format!("{hosting_volume}/{name}")).into_owned()
}

impl CommandConfig {
    pub fn block_create(&self, spec: &BlockVolumeSpec) -> Command {
        Command::new(
            Touches::Gluster,
            format!(
                "gluster-block create {} ha {} auth {} prealloc {} {} {}GiB --json",
                target(&spec.hosting_volume, &spec.name),
                spec.ha(),
                spec.auth.word(),
                q(&self.block_prealloc),
                q(&spec.hosts.join(",")),
                spec.size_gib
            ),
        )
    }

    pub fn block_delete(&self, hosting_volume: &str, name: &str) -> Command {
        Command::new(
            Touches::Gluster,
            format!("gluster-block delete {} --json", target(hosting_volume, name)),
        )
    }

    /// Heketi's line has two spaces before `size`.
    pub fn block_modify_size(&self, hosting_volume: &str, name: &str, size_gib: u64) -> Command {
        Command::new(
            Touches::Gluster,
            format!(
                "gluster-block modify {}  size {size_gib}GiB --json",
                target(hosting_volume, name)
            ),
        )
    }

    pub fn block_info(&self, hosting_volume: &str, name: &str) -> Command {
        Command::read(format!("gluster-block info {} --json", target(hosting_volume, name)))
    }

    pub fn block_list(&self, hosting_volume: &str) -> Command {
        Command::read(format!("gluster-block list {} --json", q(hosting_volume)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::BlockAuth;

    fn spec(name: &str, hosts: &[&str]) -> BlockVolumeSpec {
        BlockVolumeSpec {
            hosting_volume: "vol_1".into(),
            name: name.into(),
            hosts: hosts.iter().map(ToString::to_string).collect(),
            auth: BlockAuth::Enable,
            size_gib: 5,
        }
    }

    #[test]
    fn heketis_lines() {
        let c = CommandConfig::default();
        assert_eq!(
            c.block_create(&spec("bv", &["10.0.0.1", "10.0.0.2"])),
            "gluster-block create vol_1/bv ha 2 auth enable prealloc full 10.0.0.1,10.0.0.2 5GiB --json"
        );
        let lazy = CommandConfig {
            block_prealloc: "no".into(),
            ..CommandConfig::default()
        };
        let open = BlockVolumeSpec {
            auth: BlockAuth::Disable,
            ..spec("bv", &["n1"])
        };
        assert_eq!(
            lazy.block_create(&open),
            "gluster-block create vol_1/bv ha 1 auth disable prealloc no n1 5GiB --json"
        );
        assert_eq!(c.block_delete("vol_1", "bv"), "gluster-block delete vol_1/bv --json");
        assert_eq!(
            c.block_modify_size("vol_1", "bv", 7),
            "gluster-block modify vol_1/bv  size 7GiB --json"
        );
        assert_eq!(c.block_info("vol_1", "bv"), "gluster-block info vol_1/bv --json");
        assert_eq!(c.block_list("vol_1"), "gluster-block list vol_1 --json");
    }

    #[test]
    fn hostile_values_are_quoted_not_run() {
        let c = CommandConfig {
            block_prealloc: "full; reboot".into(),
            ..CommandConfig::default()
        };
        let line = c.block_create(&spec("b$(reboot)", &["n1;rm -rf /", "n2"]));
        assert_eq!(
            line,
            "gluster-block create 'vol_1/b$(reboot)' ha 2 auth enable prealloc 'full; reboot' 'n1;rm -rf /,n2' 5GiB --json"
        );
        assert_eq!(
            c.block_delete("v`x`", "b'c"),
            "gluster-block delete 'v`x`/b'\"'c\" --json"
        );
        assert_eq!(c.block_list("a b"), "gluster-block list 'a b' --json");
    }
}
