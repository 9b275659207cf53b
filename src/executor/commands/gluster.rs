//! Gluster commands: glusterd, the trusted pool, volumes (create, grow,
//! destroy, query), heal, brick replacement, snapshots and clones.

use super::{q, Command, CommandConfig, Touches};
use crate::executor::{GlusterVolumeSpec, VolumeLayout};

impl CommandConfig {
    pub fn glusterd_check(&self) -> Vec<Command> {
        vec![Command::read("systemctl status glusterd")]
    }

    pub fn peer_probe(&self, storage_host: &str) -> Vec<Command> {
        let mut out = vec![Command::new(
            Touches::Peers,
            format!("{} peer probe {}", self.gluster(), q(storage_host)),
        )];
        if self.snapshot_limit > 0 {
            out.push(Command::new(
                Touches::Peers,
                format!(
                    "{} snapshot config snap-max-hard-limit {}",
                    self.gluster(),
                    self.snapshot_limit
                ),
            ));
        }
        out
    }

    pub fn peer_detach(&self, storage_host: &str) -> Vec<Command> {
        vec![Command::new(
            Touches::Peers,
            format!("{} peer detach {}", self.gluster(), q(storage_host)),
        )]
    }

    /// The other peers of the node's trusted pool (for the check against
    /// the store).
    pub fn peer_status(&self) -> Command {
        Command::read(format!("{} peer status --xml", self.gluster()))
    }

    /// Every volume of the trusted pool.
    pub fn volume_info_all(&self) -> Command {
        Command::read(format!("{} volume info --xml", self.gluster()))
    }

    pub fn volume_info(&self, name: &str) -> Command {
        Command::read(format!("{} volume info {} --xml", self.gluster(), q(name)))
    }

    fn add_brick_chunks(&self, volume: &GlusterVolumeSpec, from: usize) -> Vec<Command> {
        let (in_set, per_cmd) = match volume.layout {
            VolumeLayout::Distribute => (1, 15),
            VolumeLayout::Replicate { replica, .. } => (replica as usize, 5),
            VolumeLayout::Disperse { data, redundancy } => ((data + redundancy) as usize, 1),
        };
        volume.bricks[from.min(volume.bricks.len())..]
            .chunks((in_set * per_cmd).max(1))
            .map(|chunk| {
                let bricks: String = chunk.iter().map(|b| format!("{} ", q(b))).collect();
                Command::new(
                    Touches::Gluster,
                    format!("{} volume add-brick {} {bricks}", self.gluster(), q(&volume.name)),
                )
            })
            .collect()
    }

    pub fn volume_create(&self, volume: &GlusterVolumeSpec) -> Vec<Command> {
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
        let mut out = vec![Command::new(
            Touches::VolumeCreate,
            format!("{} volume create {} {keywords}{first}", self.gluster(), q(&volume.name)),
        )];
        out.extend(self.add_brick_chunks(volume, in_set));
        for option in volume.options.iter().filter(|o| !o.trim().is_empty()) {
            let quoted: Vec<String> = option.split_whitespace().map(|w| q(w).into_owned()).collect();
            out.push(Command::new(
                Touches::VolumeOption,
                format!("{} volume set {} {}", self.gluster(), q(&volume.name), quoted.join(" ")),
            ));
        }
        out.push(Command::new(
            Touches::VolumeStart,
            format!("{} volume start {}", self.gluster(), q(&volume.name)),
        ));
        out
    }

    /// `add-brick` commands, and the rebalance to start after them.
    pub fn volume_expand_steps(&self, volume: &GlusterVolumeSpec) -> (Vec<Command>, Option<Command>) {
        let rebalance = self.rebalance_on_expansion.then(|| {
            Command::new(
                Touches::Gluster,
                format!("{} volume rebalance {} start", self.gluster(), q(&volume.name)),
            )
        });
        (self.add_brick_chunks(volume, 0), rebalance)
    }

    pub fn volume_expand(&self, volume: &GlusterVolumeSpec) -> Vec<Command> {
        let (mut out, rebalance) = self.volume_expand_steps(volume);
        out.extend(rebalance);
        out
    }

    pub fn volume_destroy(&self, name: &str) -> Vec<Command> {
        vec![
            Command::new(
                Touches::Gluster,
                format!("{} volume stop {} force", self.gluster(), q(name)),
            ),
            Command::new(
                Touches::Gluster,
                format!("{} volume delete {}", self.gluster(), q(name)),
            ),
        ]
    }

    /// Heketi's heal check query.
    pub fn heal_info(&self, name: &str) -> Command {
        Command::read(format!("{} volume heal {} info --xml", self.gluster(), q(name)))
    }

    /// Starts an index heal now instead of at the self-heal daemon's next crawl.
    pub fn heal_start(&self, name: &str) -> Command {
        Command::new(Touches::Gluster, format!("{} volume heal {}", self.gluster(), q(name)))
    }

    /// Swaps one brick (`host:/path`) for another; gluster heals the new one.
    pub fn brick_replace(&self, volume: &str, old: &str, new: &str) -> Command {
        Command::new(
            Touches::Gluster,
            format!(
                "{} volume replace-brick {} {} {} commit force",
                self.gluster(),
                q(volume),
                q(old),
                q(new)
            ),
        )
    }

    /// Snapshot deactivate and delete (the undo of a clone's leftovers).
    pub fn snapshot_destroy(&self, snapshot: &str) -> [Command; 2] {
        let g = self.gluster();
        [
            Command::new(Touches::Gluster, format!("{g} snapshot deactivate {}", q(snapshot))),
            Command::new(Touches::Gluster, format!("{g} snapshot delete {}", q(snapshot))),
        ]
    }

    /// Snapshot create, activate, clone, clone start, deactivate, delete.
    pub fn volume_clone(&self, source: &str, clone: &str, snapshot: &str) -> [Command; 6] {
        let g = self.gluster();
        let gluster = |line: String| Command::new(Touches::Gluster, line);
        [
            gluster(format!(
                "{g} --xml snapshot create {} {} no-timestamp",
                q(snapshot),
                q(source)
            )),
            gluster(format!("{g} --xml snapshot activate {}", q(snapshot))),
            gluster(format!("{g} --xml snapshot clone {} {}", q(clone), q(snapshot))),
            Command::new(Touches::VolumeStart, format!("{g} --xml volume start {}", q(clone))),
            gluster(format!("{g} --xml snapshot deactivate {}", q(snapshot))),
            gluster(format!("{g} --xml snapshot delete {}", q(snapshot))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            options: vec![String::new(), "performance.rda-cache-limit 10MB".into(), String::new()],
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

    #[test]
    fn a_volume_create_says_which_commands_create_set_and_start() {
        let c = CommandConfig::default();
        let v = GlusterVolumeSpec {
            name: "v".into(),
            layout: VolumeLayout::Distribute,
            bricks: (0..20).map(|i| format!("h:/b{i}")).collect(),
            options: vec!["a 1".into(), "b 2".into()],
        };
        let touches: Vec<Touches> = c.volume_create(&v).iter().map(|c| c.touches).collect();
        assert_eq!(
            touches,
            [
                Touches::VolumeCreate,
                Touches::Gluster,
                Touches::Gluster,
                Touches::VolumeOption,
                Touches::VolumeOption,
                Touches::VolumeStart
            ]
        );
    }
}
