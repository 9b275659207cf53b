//! One test per rule of the consistency check: a store imported from a
//! Heketi export (which the check passes), broken in exactly one way, must
//! show exactly that inconsistency. The stores are broken with raw
//! transactions, not with the operations the check is meant to judge.

use std::path::Path;

use super::check_store;
use crate::ops::import::import;
use crate::store::records::{BlockVolumeRecord, BrickRecord, ClusterRecord, DeviceRecord, NodeRecord, VolumeRecord};
use crate::store::{Abort, Record, Store, TreeName, Tx};
use crate::wire::heketi_db::HeketiDb;

/// A store holding the fixture export, and its temporary directory.
struct Healthy {
    _dir: tempfile::TempDir,
    store: Store,
}

fn healthy() -> Healthy {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/heketi-export/full.json");
    let db: HeketiDb = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    import(&store, &db, false).unwrap();
    let report = check_store(&store).unwrap();
    assert_eq!(report.totalinconsistencies, 0, "the fixture itself: {report:?}");
    Healthy { _dir: dir, store }
}

impl Healthy {
    fn first<R: Record>(&self, pick: impl Fn(&R) -> bool) -> R {
        self.store.scan::<R>().unwrap().into_iter().find(|r| pick(r)).unwrap()
    }

    fn change(&self, body: impl Fn(&Tx<'_>) -> Result<(), Abort<String>>) {
        self.store.transact(body).unwrap();
    }

    /// Every inconsistency the check reports.
    fn findings(&self) -> Vec<String> {
        let r = check_store(&self.store).unwrap();
        let all: Vec<String> = [
            &r.clusters,
            &r.nodes,
            &r.devices,
            &r.bricks,
            &r.volumes,
            &r.blockvolumes,
            &r.pendingoperations,
        ]
        .iter()
        .flat_map(|b| b.inconsistencies.clone())
        .collect();
        assert_eq!(all.len(), r.totalinconsistencies);
        all
    }

    /// Asserts the check reports exactly one inconsistency, containing `text`.
    fn expect_one(&self, text: &str) {
        let found = self.findings();
        assert_eq!(found.len(), 1, "expected only {text:?}, found {found:#?}");
        assert!(found[0].contains(text), "expected {text:?}, found {:?}", found[0]);
    }
}

fn brick_of_visible_volume(h: &Healthy) -> BrickRecord {
    h.first::<BrickRecord>(|b| b.pending.is_none() && !b.retired)
}

#[test]
fn a_cluster_listing_a_node_of_another_cluster() {
    let h = healthy();
    let node = h.first::<NodeRecord>(|_| true);
    let other = h.first::<ClusterRecord>(|c| c.id != node.cluster);
    h.change(|tx| tx.link(TreeName::ClusterNodes, &other.id, &node.id));
    h.expect_one(&format!(
        "Cluster {} lists node {}, which does not point back",
        other.id, node.id
    ));
}

#[test]
fn a_cluster_listing_a_volume_that_is_gone() {
    let h = healthy();
    let cluster = h.first::<ClusterRecord>(|_| true);
    h.change(|tx| tx.link(TreeName::ClusterVolumes, &cluster.id, "ffff"));
    h.expect_one(&format!(
        "Cluster {} lists volume ffff, which does not point back",
        cluster.id
    ));
}

#[test]
fn a_cluster_listing_a_block_volume_that_is_gone() {
    let h = healthy();
    let cluster = h.first::<ClusterRecord>(|_| true);
    h.change(|tx| tx.link(TreeName::ClusterBlockVolumes, &cluster.id, "ffff"));
    h.expect_one("lists block volume ffff, which does not point back");
}

#[test]
fn a_node_its_cluster_does_not_list() {
    let h = healthy();
    let node = h.first::<NodeRecord>(|_| true);
    h.change(|tx| tx.unlink(TreeName::ClusterNodes, &node.cluster, &node.id));
    h.expect_one(&format!(
        "Node {} is not listed by its cluster {}",
        node.id, node.cluster
    ));
}

#[test]
fn a_node_hostname_registered_to_nobody() {
    let h = healthy();
    let node = h.first::<NodeRecord>(|_| true);
    h.change(|tx| tx.index_remove(TreeName::StorageHosts, &node.storage[0]));
    h.expect_one(&format!(
        "Node {} hostname {} is not registered to it",
        node.id, node.storage[0]
    ));
}

#[test]
fn a_node_listing_a_device_that_is_gone() {
    let h = healthy();
    let node = h.first::<NodeRecord>(|_| true);
    h.change(|tx| tx.link(TreeName::NodeDevices, &node.id, "ffff"));
    h.expect_one(&format!(
        "Node {} lists device ffff, which does not point back",
        node.id
    ));
}

#[test]
fn a_device_its_node_does_not_list() {
    let h = healthy();
    let device = h.first::<DeviceRecord>(|_| true);
    h.change(|tx| tx.unlink(TreeName::NodeDevices, &device.node, &device.id));
    h.expect_one(&format!(
        "Device {} is not listed by its node {}",
        device.id, device.node
    ));
}

#[test]
fn a_device_whose_space_does_not_add_up() {
    let h = healthy();
    let mut device = h.first::<DeviceRecord>(|_| true);
    device.space.total += 1;
    h.change(|tx| tx.put(&device));
    h.expect_one(&format!("Device {} free", device.id));
}

#[test]
fn a_device_listing_a_brick_that_is_gone() {
    let h = healthy();
    let device = h.first::<DeviceRecord>(|_| true);
    h.change(|tx| tx.link(TreeName::DeviceBricks, &device.id, "ffff"));
    h.expect_one(&format!(
        "Device {} lists brick ffff, which does not point back",
        device.id
    ));
}

#[test]
fn a_device_whose_used_space_is_not_its_bricks_charges() {
    let h = healthy();
    let brick = h.first::<BrickRecord>(|b| b.charged > 0);
    let mut changed = brick.clone();
    changed.charged += 4;
    h.change(|tx| tx.put(&changed));
    h.expect_one(&format!("Device {} used", brick.device));
}

#[test]
fn a_brick_its_device_does_not_list() {
    let h = healthy();
    let brick = h.first::<BrickRecord>(|b| b.charged == 0);
    h.change(|tx| tx.unlink(TreeName::DeviceBricks, &brick.device, &brick.id));
    h.expect_one(&format!(
        "Brick {} is not listed by its device {}",
        brick.id, brick.device
    ));
}

#[test]
fn a_brick_on_a_node_that_is_gone() {
    let h = healthy();
    let mut brick = brick_of_visible_volume(&h);
    brick.node = "ffff".into();
    h.change(|tx| tx.put(&brick));
    h.expect_one(&format!("Brick {} node ffff does not exist", brick.id));
}

#[test]
fn a_retired_brick_its_volume_still_lists() {
    let h = healthy();
    let mut brick = brick_of_visible_volume(&h);
    brick.retired = true;
    h.change(|tx| tx.put(&brick));
    h.expect_one(&format!(
        "Brick {} is listed by volume {} before joining it",
        brick.id, brick.volume
    ));
}

#[test]
fn a_brick_its_volume_does_not_list() {
    let h = healthy();
    let brick = brick_of_visible_volume(&h);
    h.change(|tx| tx.unlink(TreeName::VolumeBricks, &brick.volume, &brick.id));
    h.expect_one(&format!(
        "Brick {} is not listed by its volume {}",
        brick.id, brick.volume
    ));
}

#[test]
fn a_brick_marked_by_a_missing_operation() {
    let h = healthy();
    let mut brick = brick_of_visible_volume(&h);
    brick.pending = Some("ffff".into());
    h.change(|tx| tx.put(&brick));
    h.expect_one(&format!(
        "Brick {} is marked pending by missing operation ffff",
        brick.id
    ));
}

#[test]
fn a_volume_its_cluster_does_not_list() {
    let h = healthy();
    let volume = h.first::<VolumeRecord>(|v| v.pending.is_none());
    h.change(|tx| tx.unlink(TreeName::ClusterVolumes, &volume.cluster, &volume.id));
    h.expect_one(&format!(
        "Volume {} is not listed by its cluster {}",
        volume.id, volume.cluster
    ));
}

#[test]
fn a_volume_marked_by_a_missing_operation() {
    let h = healthy();
    let mut volume = h.first::<VolumeRecord>(|v| v.pending.is_none());
    volume.pending = Some("ffff".into());
    // Hidden as a pending volume is, so only the marker is wrong.
    h.change(|tx| {
        tx.put(&volume)?;
        tx.index_remove(TreeName::VisibleVolumes, &volume.id)
    });
    h.expect_one(&format!(
        "Volume {} is marked pending by missing operation ffff",
        volume.id
    ));
}

#[test]
fn a_settled_volume_hidden_from_clients() {
    let h = healthy();
    let volume = h.first::<VolumeRecord>(|v| v.pending.is_none());
    h.change(|tx| tx.index_remove(TreeName::VisibleVolumes, &volume.id));
    h.expect_one(&format!(
        "Volume {} visibility does not match its pending marker",
        volume.id
    ));
}

#[test]
fn a_volume_whose_brick_order_names_a_missing_brick() {
    let h = healthy();
    let mut volume = h.first::<VolumeRecord>(|v| v.pending.is_none());
    volume.brick_order.push("ffff".into());
    h.change(|tx| tx.put(&volume));
    h.expect_one(&format!("Volume {} brick ffff does not exist", volume.id));
}

#[test]
fn a_volume_listing_a_block_volume_that_is_gone() {
    let h = healthy();
    let mut volume = h.first::<VolumeRecord>(|v| v.block);
    volume.blockinfo.block_volumes.push("ffff".into());
    h.change(|tx| tx.put(&volume));
    h.expect_one(&format!(
        "Volume {} lists block volume ffff, which does not point back",
        volume.id
    ));
}

#[test]
fn a_block_volume_its_cluster_does_not_list() {
    let h = healthy();
    let block = h.first::<BlockVolumeRecord>(|_| true);
    h.change(|tx| tx.unlink(TreeName::ClusterBlockVolumes, &block.cluster, &block.id));
    h.expect_one(&format!(
        "Block volume {} is not listed by its cluster {}",
        block.id, block.cluster
    ));
}

#[test]
fn a_block_volume_on_a_volume_that_hosts_no_blocks() {
    let h = healthy();
    let mut block = h.first::<BlockVolumeRecord>(|_| true);
    let plain = h.first::<VolumeRecord>(|v| !v.block && v.cluster == block.cluster);
    let hosting = block.hosting_volume.clone();
    block.hosting_volume = plain.id.clone();
    let mut host = h.first::<VolumeRecord>(|v| v.id == hosting);
    host.blockinfo.block_volumes.retain(|b| *b != block.id);
    h.change(|tx| {
        tx.put(&block)?;
        tx.put(&host)
    });
    h.expect_one(&format!(
        "Block volume {} is hosted by volume {}, which is not block-hosting",
        block.id, plain.id
    ));
}

#[test]
fn a_block_volume_its_hosting_volume_does_not_list() {
    let h = healthy();
    let block = h.first::<BlockVolumeRecord>(|_| true);
    let mut host = h.first::<VolumeRecord>(|v| v.id == block.hosting_volume);
    host.blockinfo.block_volumes.clear();
    h.change(|tx| tx.put(&host));
    h.expect_one(&format!(
        "Block volume {} is not listed by its hosting volume {}",
        block.id, block.hosting_volume
    ));
}

#[test]
fn a_block_volume_marked_by_a_missing_operation() {
    let h = healthy();
    let mut block = h.first::<BlockVolumeRecord>(|_| true);
    block.pending = Some("ffff".into());
    h.change(|tx| tx.put(&block));
    h.expect_one(&format!(
        "Block volume {} is marked pending by missing operation ffff",
        block.id
    ));
}

#[test]
fn a_block_volume_marked_expanding_by_a_missing_operation() {
    let h = healthy();
    let mut block = h.first::<BlockVolumeRecord>(|_| true);
    block.expanding = Some("ffff".into());
    h.change(|tx| tx.put(&block));
    h.expect_one(&format!(
        "Block volume {} is marked expanding by missing operation ffff",
        block.id
    ));
}

#[test]
fn an_operation_on_a_block_volume_that_is_gone() {
    let h = healthy();
    let entry = crate::ops::journal::JournalEntry::new(crate::ops::block_volumes::ExpandBlockVolume {
        block_volume_id: "ffff".into(),
        new_size_gib: 2,
        growth_gib: 1,
    });
    h.change(|tx| tx.put(&entry));
    h.expect_one(&format!("Operation {} refers to missing block volume ffff", entry.id));
}

#[test]
fn an_operation_on_a_volume_that_is_gone() {
    let h = healthy();
    let entry = h.first::<crate::ops::journal::JournalEntry>(|_| true);
    let crate::ops::journal::Action::CreateVolume(create) = &entry.action else {
        panic!("the fixture's pending operation is a create: {entry:?}");
    };
    let volume = h.first::<VolumeRecord>(|v| v.id == create.volume_id);
    // The volume record goes; what listed it goes with it, so that only the
    // operation's reference is left dangling.
    h.change(|tx| {
        tx.remove::<VolumeRecord, String>(&volume.id)?;
        tx.unlink(TreeName::ClusterVolumes, &volume.cluster, &volume.id)?;
        for b in &volume.brick_order {
            tx.unlink(TreeName::VolumeBricks, &volume.id, b)?;
        }
        Ok(())
    });
    let found = h.findings();
    assert!(
        found.contains(&format!(
            "Operation {} refers to missing volume {}",
            entry.id, volume.id
        )),
        "{found:#?}"
    );
}
