//! The store against the nodes (`GET /db/check?nodes=true`): what each
//! brick should have on its node (its LV, thin pool and mount, and its
//! fstab line unless glusterd mounts it), what gluster should hold, and
//! what the nodes hold that no brick or volume explains. `/db/check` alone
//! looks at the store only, so drift between store and nodes (a leaked LV,
//! a volume gluster lost) shows here. On the nodes only Brickyard's own
//! places are looked at: LVs in `vg_<device id>` groups of devices the
//! store knows (gluster snapshots, LVs with an origin, excepted), mounts
//! under the brick mount roots, fstab lines mounting there; in gluster,
//! every volume of the pool, since one the store does not know was made
//! outside Brickyard or left behind. Objects of operations in progress may
//! or may not exist yet and are not judged; a check the store changed
//! under is made again.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::executor::{NodeInventory, BRICK_MOUNT_ROOTS};
use crate::store::records::{BrickRecord, ClusterRecord, DeviceRecord, EntityState, NodeRecord, VolumeRecord};
use crate::store::TreeName;
pub use crate::wire::drift::{DriftKind, Unreachable};

use super::volumes::brick_spec;
use super::{Engine, OpError};

/// One disagreement between the store and a node.
#[derive(Serialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Drift {
    pub kind: DriftKind,
    /// The node's manage host, or the cluster id for gluster findings.
    pub node: String,
    /// The object: `vg/lv`, a mount point, an fstab line, a volume name.
    pub object: String,
    /// What the store says about it.
    pub evidence: String,
}

#[derive(Serialize, Debug, Default, Clone, PartialEq)]
pub struct NodesReport {
    /// Manage hosts of the nodes read.
    pub checked: Vec<String>,
    /// The store kept changing while the nodes were read (operations
    /// starting or ending): findings may be of those, not drift.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub store_changed: bool,
    pub unreachable: Vec<Unreachable>,
    pub findings: Vec<Drift>,
    /// What each node read reported, by manage host (for the reconciler,
    /// which judges orphans by where they are mounted).
    #[serde(skip)]
    pub inventories: BTreeMap<String, NodeInventory>,
    /// Every brick (`host:path`) of every gluster volume read: an LV under
    /// one of them is in use whatever the store says.
    #[serde(skip)]
    pub gluster_bricks: BTreeSet<String>,
}

/// What the store expects on one node.
#[derive(Default)]
struct Expected {
    lvs: BTreeMap<String, String>,
    pools: BTreeMap<String, String>,
    mounts: BTreeMap<String, String>,
    fstab: BTreeMap<String, String>,
    /// Brick directories (`<mount>/brick`) under Heketi's mount root, by
    /// the mount point that holds them.
    brick_dirs: BTreeMap<String, (String, String)>,
    /// Objects of operations in progress: neither required nor orphans.
    unsettled: BTreeSet<String>,
    /// A clone in progress: its LVs and mounts have no names yet.
    clone_in_progress: bool,
    /// Volume groups of the store's devices on this node: LVs elsewhere are
    /// not Brickyard's to judge.
    vgs: BTreeSet<String>,
}

/// How often the check is made again when the store changed meanwhile.
const CHECK_ATTEMPTS: usize = 3;

/// Reads the nodes and compares; an operation accepted or committed
/// while the nodes were read would show as drift, so a check the store
/// changed under is made again (and, failing that, says so).
pub async fn check_nodes(engine: &Engine) -> Result<NodesReport, OpError> {
    let commits = engine.store.commits();
    let mut report = NodesReport::default();
    for _ in 0..CHECK_ATTEMPTS {
        let before = *commits.borrow();
        report = check_nodes_once(engine).await?;
        if *commits.borrow() == before {
            return Ok(report);
        }
    }
    report.store_changed = true;
    Ok(report)
}

async fn check_nodes_once(engine: &Engine) -> Result<NodesReport, OpError> {
    let mut report = NodesReport::default();
    for cluster in engine.store.scan::<ClusterRecord>()? {
        let nodes: Vec<NodeRecord> = engine
            .store
            .children(TreeName::ClusterNodes, &cluster.id)?
            .iter()
            .filter_map(|id| engine.store.get::<NodeRecord>(id).ok().flatten())
            .collect();
        // Each node read, and the names it knows its peers by.
        let mut peers = BTreeMap::new();
        for node in &nodes {
            let host = node.manage_host().to_string();
            match engine.executor.node_inventory(&host).await {
                Ok(inventory) => {
                    let expected = expected_on(engine, node)?;
                    report.findings.extend(compare_node(&host, &expected, &inventory));
                    report.inventories.insert(host.clone(), inventory);
                    match engine.executor.peer_hostnames(&host).await {
                        Ok(names) => {
                            peers.insert(node.id.clone(), (host.clone(), names));
                        }
                        Err(e) => report.unreachable.push(Unreachable {
                            node: host.clone(),
                            error: e.to_string(),
                        }),
                    }
                    report.checked.push(host);
                }
                Err(e) => report.unreachable.push(Unreachable {
                    node: host,
                    error: e.to_string(),
                }),
            }
        }
        report.findings.extend(missing_peers(&cluster.id, &nodes, &peers));
        // Gluster's view from an online node, one the health monitor found up if any.
        let down = engine.health.down_nodes();
        let online = nodes.iter().filter(|n| n.state == EntityState::Online);
        if let Some(node) = online.min_by_key(|n| down.contains(&n.id)) {
            match engine.executor.gluster_volumes(node.manage_host()).await {
                Ok(volumes) => {
                    report.findings.extend(compare_gluster(engine, &cluster.id, &volumes)?);
                    let bricks = volumes.iter().flat_map(|(_, v)| v.bricks.iter().cloned());
                    report.gluster_bricks.extend(bricks);
                }
                Err(e) => report.unreachable.push(Unreachable {
                    node: node.manage_host().to_string(),
                    error: e.to_string(),
                }),
            }
        }
    }
    report.findings.sort();
    Ok(report)
}

fn expected_on(engine: &Engine, node: &NodeRecord) -> Result<Expected, OpError> {
    let mut expected = Expected::default();
    for device_id in engine.store.children(TreeName::NodeDevices, &node.id)? {
        if engine.store.get::<DeviceRecord>(&device_id)?.is_none() {
            continue;
        }
        expected.vgs.insert(format!("vg_{device_id}"));
        for brick_id in engine.store.children(TreeName::DeviceBricks, &device_id)? {
            let Some(brick) = engine.store.get::<BrickRecord>(&brick_id)? else {
                continue;
            };
            let spec = brick_spec(&brick, 0);
            let lv = format!("{}/{}", spec.vg(), spec.lv);
            let pool = format!("{}/{}", spec.vg(), spec.thin_pool);
            // A clone's brick learns its path only at commit.
            let mount = (!brick.path.is_empty()).then(|| spec.mount_point());
            if brick.pending.is_some() {
                expected.unsettled.extend([lv, pool]);
                expected.unsettled.extend(mount);
                // Before its commit a clone brick's LV and mount have no name.
                expected.clone_in_progress |= brick.path.is_empty();
                continue;
            }
            let what = format!("brick {} of volume {}", brick.id, brick.volume);
            expected.lvs.insert(lv, what.clone());
            expected.pools.insert(pool, what.clone());
            if let Some(mount) = mount {
                if !spec.mounted_by_gluster() {
                    expected.fstab.insert(mount.clone(), what.clone());
                }
                if brick.path.starts_with(BRICK_MOUNT_ROOTS[0]) {
                    expected
                        .brick_dirs
                        .insert(mount.clone(), (brick.path.clone(), what.clone()));
                }
                expected.mounts.insert(mount, what);
            }
        }
    }
    Ok(expected)
}

fn compare_gluster(
    engine: &Engine,
    cluster: &str,
    volumes: &[(String, crate::executor::GlusterVolumeInfo)],
) -> Result<Vec<Drift>, OpError> {
    let mut drift = Vec::new();
    let mut stored = BTreeMap::new();
    for id in engine.store.children(TreeName::ClusterVolumes, cluster)? {
        if let Some(v) = engine.store.get::<VolumeRecord>(&id)? {
            stored.insert(v.name.clone(), v);
        }
    }
    let mut settled_names = BTreeMap::new();
    for (name, v) in &stored {
        let bricks = bricks_in_order(engine, &v.brick_order)?;
        let names = gluster_brick_names(engine, &bricks)?;
        settled_names.insert(name.clone(), (v.pending.is_none(), names));
    }
    let in_gluster: BTreeMap<&str, &crate::executor::GlusterVolumeInfo> =
        volumes.iter().map(|(n, v)| (n.as_str(), v)).collect();
    for (name, (settled, want)) in &settled_names {
        match in_gluster.get(name.as_str()) {
            None if *settled => drift.push(Drift {
                kind: DriftKind::MissingGlusterVolume,
                node: cluster.to_string(),
                object: name.clone(),
                evidence: format!("volume {} in the store", stored[name].id),
            }),
            Some(g) if *settled => {
                let (mut have, mut want) = (g.bricks.clone(), want.clone());
                have.sort();
                want.sort();
                if have != want {
                    drift.push(Drift {
                        kind: DriftKind::GlusterBricksDiffer,
                        node: cluster.to_string(),
                        object: name.clone(),
                        evidence: format!("gluster has {have:?}, the store {want:?}"),
                    });
                }
            }
            _ => {}
        }
    }
    for (name, _) in volumes {
        if !stored.contains_key(name) {
            drift.push(Drift {
                kind: DriftKind::UnknownGlusterVolume,
                node: cluster.to_string(),
                object: name.clone(),
                evidence: "no volume of this name in the store".into(),
            });
        }
    }
    Ok(drift)
}

fn bricks_in_order(engine: &Engine, ids: &[String]) -> Result<Vec<BrickRecord>, OpError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.extend(engine.store.get::<BrickRecord>(id)?);
    }
    Ok(out)
}

fn gluster_brick_names(engine: &Engine, bricks: &[BrickRecord]) -> Result<Vec<String>, OpError> {
    let mut out = Vec::new();
    for b in bricks {
        let node = engine
            .store
            .get::<NodeRecord>(&b.node)?
            .ok_or_else(|| OpError::Internal(format!("node {} of brick {} is gone", b.node, b.id)))?;
        out.push(format!("{}:{}", node.storage_host(), b.path));
    }
    Ok(out)
}

/// Store nodes of a cluster that no other node of it lists among its
/// peers (by any of the node's names). A node is judged only when another
/// node of its cluster answered: its own view cannot tell.
fn missing_peers(cluster: &str, nodes: &[NodeRecord], peers: &BTreeMap<String, (String, Vec<String>)>) -> Vec<Drift> {
    let mut drift = Vec::new();
    for node in nodes {
        let others: Vec<&(String, Vec<String>)> = peers
            .iter()
            .filter(|(id, _)| **id != node.id)
            .map(|(_, listed)| listed)
            .collect();
        if others.is_empty() {
            continue;
        }
        let names: BTreeSet<&str> = node.manage.iter().chain(&node.storage).map(String::as_str).collect();
        let in_pool = others
            .iter()
            .any(|(_, listed)| listed.iter().any(|n| names.contains(n.as_str())));
        if !in_pool {
            let views: Vec<String> = others
                .iter()
                .map(|(host, listed)| format!("{host} has peers {listed:?}"))
                .collect();
            drift.push(Drift {
                kind: DriftKind::MissingPeer,
                node: cluster.to_string(),
                object: node.storage_host().to_string(),
                evidence: format!("node {} of the store; {}", node.id, views.join(", ")),
            });
        }
    }
    drift
}

/// `vg/lv` of a `/dev/mapper/<vg>-<lv>` device (a `-` in a name is `--`).
fn mapper_lv(source: &str) -> Option<String> {
    let name = source.strip_prefix("/dev/mapper/")?;
    let bytes = name.as_bytes();
    let split = (0..bytes.len())
        .find(|&i| bytes[i] == b'-' && bytes.get(i + 1) != Some(&b'-') && (i == 0 || bytes[i - 1] != b'-'))?;
    let (vg, lv) = (&name[..split], &name[split + 1..]);
    Some(format!("{}/{}", vg.replace("--", "-"), lv.replace("--", "-")))
}

/// Findings on one node: what the store expects and the node lacks, and
/// what the node holds in Brickyard's places that no brick explains.
fn compare_node(host: &str, expected: &Expected, inventory: &crate::executor::NodeInventory) -> Vec<Drift> {
    let finding = |kind, object: &str, evidence: &str| Drift {
        kind,
        node: host.to_string(),
        object: object.to_string(),
        evidence: evidence.to_string(),
    };
    let mut drift = Vec::new();
    let lvs: BTreeSet<String> = inventory.lvs.iter().map(|l| format!("{}/{}", l.vg, l.lv)).collect();
    for (lv, what) in &expected.lvs {
        if !lvs.contains(lv) {
            drift.push(finding(DriftKind::MissingLv, lv, what));
        }
    }
    for (pool, what) in &expected.pools {
        if !lvs.contains(pool) {
            drift.push(finding(DriftKind::MissingThinPool, pool, what));
        }
    }
    // Gluster snapshots of bricks (an operator's, or a clone's temporary
    // one) are LVs with an origin: gluster's, not judged here.
    let snapshots: BTreeSet<String> = inventory
        .lvs
        .iter()
        .filter(|l| l.origin.is_some())
        .map(|l| format!("{}/{}", l.vg, l.lv))
        .collect();
    for lv in &inventory.lvs {
        let key = format!("{}/{}", lv.vg, lv.lv);
        let explained = expected.lvs.contains_key(&key)
            || expected.pools.contains_key(&key)
            || expected.unsettled.contains(&key)
            || snapshots.contains(&key)
            || (expected.clone_in_progress && lv.pool.is_some())
            || !expected.vgs.contains(&lv.vg);
        if !explained {
            drift.push(finding(DriftKind::OrphanLv, &key, "no brick of the store uses it"));
        }
    }
    let mounts: BTreeSet<&str> = inventory.mounts.iter().map(|m| m.target.as_str()).collect();
    for (mount, what) in &expected.mounts {
        if !mounts.contains(mount.as_str()) {
            drift.push(finding(DriftKind::MissingMount, mount, what));
        }
    }
    // A brick directory is looked for only in a mounted file system: an
    // unmounted brick is a missing mount.
    let dirs: BTreeSet<&str> = inventory.brick_dirs.iter().map(String::as_str).collect();
    for (mount, (dir, what)) in &expected.brick_dirs {
        if mounts.contains(mount.as_str()) && !dirs.contains(dir.as_str()) {
            drift.push(finding(DriftKind::MissingBrickDir, dir, what));
        }
    }
    for mount in &inventory.mounts {
        let target = mount.target.as_str();
        let of_snapshot = mapper_lv(&mount.source).is_some_and(|lv| snapshots.contains(&lv));
        let explained = expected.mounts.contains_key(target)
            || expected.unsettled.contains(target)
            || of_snapshot
            || (expected.clone_in_progress && !target.starts_with(BRICK_MOUNT_ROOTS[0]));
        if !explained {
            drift.push(finding(
                DriftKind::OrphanMount,
                target,
                "no brick of the store is mounted there",
            ));
        }
    }
    let fstab_mounts: BTreeMap<&str, &str> = inventory
        .fstab
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1).map(|m| (m, l.as_str())))
        .collect();
    for (mount, what) in &expected.fstab {
        if !fstab_mounts.contains_key(mount.as_str()) {
            drift.push(finding(DriftKind::MissingFstabLine, mount, what));
        }
    }
    for (mount, line) in &fstab_mounts {
        let explained = expected.fstab.contains_key(*mount) || expected.unsettled.contains(*mount);
        if !explained {
            drift.push(finding(
                DriftKind::OrphanFstabLine,
                line,
                "no brick of the store is mounted there",
            ));
        }
    }
    drift
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::{LvEntry, MountEntry, NodeInventory};

    #[test]
    fn mapper_names_decode() {
        assert_eq!(mapper_lv("/dev/mapper/vg_d-brick_1").as_deref(), Some("vg_d/brick_1"));
        assert_eq!(mapper_lv("/dev/mapper/my--vg-lv--x").as_deref(), Some("my-vg/lv-x"));
        assert_eq!(mapper_lv("/dev/sdb"), None);
    }

    fn lv(vg: &str, lv: &str, pool: Option<&str>) -> LvEntry {
        LvEntry {
            vg: vg.into(),
            lv: lv.into(),
            pool: pool.map(str::to_string),
            origin: None,
        }
    }

    fn mount(source: &str, target: &str) -> MountEntry {
        MountEntry {
            source: source.into(),
            target: target.into(),
        }
    }

    /// What the store expects of one brick, `brick_1` in `vg_d`.
    fn one_brick() -> Expected {
        let mut expected = Expected::default();
        expected.lvs.insert("vg_d/brick_1".into(), "brick 1".into());
        expected.pools.insert("vg_d/tp_1".into(), "brick 1".into());
        expected
            .mounts
            .insert("/var/lib/heketi/mounts/vg_d/brick_1".into(), "brick 1".into());
        expected
            .fstab
            .insert("/var/lib/heketi/mounts/vg_d/brick_1".into(), "brick 1".into());
        expected.brick_dirs.insert(
            "/var/lib/heketi/mounts/vg_d/brick_1".into(),
            ("/var/lib/heketi/mounts/vg_d/brick_1/brick".into(), "brick 1".into()),
        );
        expected.vgs.insert("vg_d".into());
        expected
    }

    fn kinds_and_objects(drift: Vec<Drift>) -> Vec<(DriftKind, String)> {
        drift.into_iter().map(|d| (d.kind, d.object)).collect()
    }

    #[test]
    fn every_kind_of_node_drift_is_found() {
        let mut expected = one_brick();
        expected.unsettled.insert("vg_d/brick_9".into());
        // The node lost the brick's LV, mount and fstab line, kept its pool,
        // and holds an orphan pool, mount and fstab line, an LV of an
        // operation in progress, an LV of a VG that is not Brickyard's, and
        // a gluster snapshot of the brick, mounted.
        let inventory = NodeInventory {
            lvs: vec![
                lv("vg_d", "tp_1", None),
                lv("vg_d", "tp_2", None),
                lv("vg_d", "brick_9", Some("tp_1")),
                lv("vg_other", "data", None),
                LvEntry {
                    origin: Some("brick_1".into()),
                    ..lv("vg_d", "snap_0", Some("tp_1"))
                },
            ],
            mounts: vec![
                mount("/dev/mapper/vg_d-brick_2", "/var/lib/heketi/mounts/vg_d/brick_2"),
                mount("/dev/mapper/vg_d-snap_0", "/run/gluster/snaps/snap/brick1"),
            ],
            fstab: vec!["/dev/mapper/vg_d-brick_2 /var/lib/heketi/mounts/vg_d/brick_2 xfs rw 1 2".into()],
            brick_dirs: vec!["/var/lib/heketi/mounts/vg_d/brick_2/brick".into()],
        };
        assert_eq!(
            kinds_and_objects(compare_node("n1", &expected, &inventory)),
            vec![
                (DriftKind::MissingLv, "vg_d/brick_1".into()),
                (DriftKind::OrphanLv, "vg_d/tp_2".into()),
                (DriftKind::MissingMount, "/var/lib/heketi/mounts/vg_d/brick_1".into()),
                (DriftKind::OrphanMount, "/var/lib/heketi/mounts/vg_d/brick_2".into()),
                (
                    DriftKind::MissingFstabLine,
                    "/var/lib/heketi/mounts/vg_d/brick_1".into()
                ),
                (
                    DriftKind::OrphanFstabLine,
                    "/dev/mapper/vg_d-brick_2 /var/lib/heketi/mounts/vg_d/brick_2 xfs rw 1 2".into()
                ),
            ]
        );
    }

    #[test]
    fn a_node_matching_the_store_has_no_drift() {
        let expected = one_brick();
        let inventory = NodeInventory {
            lvs: vec![lv("vg_d", "tp_1", None), lv("vg_d", "brick_1", Some("tp_1"))],
            mounts: vec![mount("/dev/mapper/vg_d-brick_1", "/var/lib/heketi/mounts/vg_d/brick_1")],
            fstab: vec!["/dev/mapper/vg_d-brick_1 /var/lib/heketi/mounts/vg_d/brick_1 xfs rw 1 2".into()],
            brick_dirs: vec!["/var/lib/heketi/mounts/vg_d/brick_1/brick".into()],
        };
        assert_eq!(compare_node("n1", &expected, &inventory), Vec::new());

        // Mounted, but the brick directory in it is gone.
        let emptied = NodeInventory {
            brick_dirs: Vec::new(),
            ..inventory
        };
        assert_eq!(
            kinds_and_objects(compare_node("n1", &expected, &emptied)),
            [(
                DriftKind::MissingBrickDir,
                "/var/lib/heketi/mounts/vg_d/brick_1/brick".to_string()
            )]
        );
    }

    fn node(id: &str, manage: &str, storage: &str) -> NodeRecord {
        NodeRecord {
            id: id.into(),
            cluster: "c".into(),
            zone: 1,
            manage: vec![manage.into()],
            storage: vec![storage.into()],
            tags: Default::default(),
            state: EntityState::Online,
        }
    }

    #[test]
    fn a_node_no_other_node_lists_is_missing_from_the_pool() {
        let nodes = [
            node("1", "n1", "10.0.0.1"),
            node("2", "n2", "10.0.0.2"),
            node("3", "n3", "10.0.0.3"),
        ];
        let view = |host: &str, names: &[&str]| (host.to_string(), names.iter().map(ToString::to_string).collect());
        // Node 3 was detached: it lists nobody, and nobody lists it. Node 1
        // is known to node 2 by its manage name only, which counts.
        let peers = BTreeMap::from([
            ("1".to_string(), view("n1", &["10.0.0.2"])),
            ("2".to_string(), view("n2", &["n1"])),
            ("3".to_string(), view("n3", &[])),
        ]);
        let found = missing_peers("c", &nodes, &peers);
        assert_eq!(
            found.iter().map(|d| (d.kind, d.object.as_str())).collect::<Vec<_>>(),
            [(DriftKind::MissingPeer, "10.0.0.3")]
        );
        assert!(
            found[0].evidence.starts_with("node 3 of the store; n1 has peers"),
            "{found:?}"
        );
        // Only a node's own view: not judged.
        let alone = BTreeMap::from([("1".to_string(), view("n1", &[]))]);
        assert_eq!(missing_peers("c", &nodes[..1], &alone), Vec::new());
        // Only node 1 read, listing nobody: nodes 2 and 3 are missing from
        // its pool, and node 1 is not judged.
        assert_eq!(missing_peers("c", &nodes, &alone).len(), 2);
    }
}
