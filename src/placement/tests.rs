use std::collections::BTreeSet;

use proptest::prelude::*;

use super::sizing::{BrickLimits, KIB_PER_GIB};
use super::*;

const LIMITS: BrickLimits = BrickLimits {
    min_brick_kib: KIB_PER_GIB,
    max_brick_kib: 4096 * KIB_PER_GIB,
    max_bricks_per_volume: 32,
};

fn request(size_gib: u64, layout: Layout) -> Request {
    Request {
        size_gib,
        layout,
        arbiter: false,
        snapshot_factor: 1.0,
        zone_strict: false,
        tag_rule: None,
        average_file_kib: 64,
        existing_bricks: 0,
        limits: LIMITS,
    }
}

fn device(node: usize, zone: i64, n: usize, free_gib: u64) -> DeviceSlot {
    DeviceSlot {
        id: format!("{node:02}{n:030}"),
        node: format!("node{node:02}"),
        zone,
        free: free_gib * KIB_PER_GIB,
        extent_kib: 4096,
        tags: Tags::new(),
    }
}

fn cluster(devices: Vec<DeviceSlot>) -> ClusterSlot {
    let nodes: BTreeSet<&str> = devices.iter().map(|d| d.node.as_str()).collect();
    ClusterSlot {
        id: "c".repeat(32),
        block: true,
        file: true,
        node_count: nodes.len(),
        devices,
        nodes_down: 0,
    }
}

/// Deterministic ids: a counter, hex-formatted.
fn ids(seed: u64) -> impl FnMut() -> String {
    let mut n = seed;
    move || {
        n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        format!("{n:016x}{:016x}", n.rotate_left(17))
    }
}

fn three_nodes(free_gib: u64) -> ClusterSlot {
    cluster((0..3).map(|i| device(i, i as i64 + 1, 0, free_gib)).collect())
}

/// Nodes the health monitor left out are named in the refusal, also when
/// they held every device.
#[test]
fn a_refusal_says_how_many_nodes_were_left_out_as_down() {
    let two_of_three = ClusterSlot {
        node_count: 3,
        nodes_down: 1,
        ..cluster((0..2).map(|i| device(i, i as i64 + 1, 0, 500)).collect())
    };
    let refused = place_in_cluster(&two_of_three, &request(10, Layout::Replicate(3)), &mut ids(1)).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "No space: a brick set needs 3 bricks on different nodes, but only 2 online node(s) have usable devices; \
         1 online node(s) left out while their glusterd does not answer"
    );
    let all_down = ClusterSlot {
        node_count: 3,
        nodes_down: 3,
        ..cluster(vec![])
    };
    let refused = place_in_cluster(&all_down, &request(10, Layout::Replicate(3)), &mut ids(1)).unwrap_err();
    assert_eq!(
        refused,
        Refusal::NoSpace("3 online node(s) left out while their glusterd does not answer".into())
    );
    // Without nodes down, nothing is added.
    let plain = ClusterSlot {
        node_count: 2,
        ..cluster((0..2).map(|i| device(i, i as i64 + 1, 0, 500)).collect())
    };
    let refused = place_in_cluster(&plain, &request(10, Layout::Replicate(3)), &mut ids(1)).unwrap_err();
    assert!(!refused.to_string().contains("left out"), "{refused}");
}

#[test]
fn a_replica_three_volume_takes_one_brick_per_node() {
    let plan = place_in_cluster(&three_nodes(500), &request(100, Layout::Replicate(3)), &mut ids(1)).unwrap();
    assert_eq!(plan.sets.len(), 1);
    let nodes: BTreeSet<_> = plan.bricks().map(|b| b.node.clone()).collect();
    assert_eq!(nodes.len(), 3);
    assert!(plan.bricks().all(|b| b.size_kib == 100 * KIB_PER_GIB));
    assert_eq!(plan.bricks().next().unwrap().pool.total(), 100 * KIB_PER_GIB + 524_288);
}

#[test]
fn halving_splits_when_one_brick_does_not_fit() {
    // 60 GiB free per device: a 100 GiB replica-3 volume needs 2 sets of 50 GiB.
    let mut c = three_nodes(60);
    for i in 0..3 {
        c.devices.push(device(i, i as i64 + 1, 1, 60));
    }
    let plan = place_in_cluster(&c, &request(100, Layout::Replicate(3)), &mut ids(2)).unwrap();
    assert_eq!((plan.sizing.sets, plan.sizing.brick_kib), (2, 50 * KIB_PER_GIB));
}

#[test]
fn the_extended_search_finds_what_halving_misses() {
    // Three 100 GiB devices, 290 GiB distribute: 3 bricks fit, no power of two does.
    let c = three_nodes(100);
    let plan = place_in_cluster(&c, &request(290, Layout::Distribute), &mut ids(3)).unwrap();
    assert_eq!(plan.sizing.sets, 3);
    assert!(plan.sizing.sets * plan.sizing.brick_kib >= 290 * KIB_PER_GIB);
}

#[test]
fn no_space_explains_itself() {
    let err = place_in_cluster(&three_nodes(10), &request(100, Layout::Replicate(3)), &mut ids(4)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("No space: the volume needs about 300 GiB of raw space"),
        "{text}"
    );
    let two = cluster(vec![device(0, 1, 0, 500), device(1, 2, 0, 500)]);
    let err = place_in_cluster(&two, &request(10, Layout::Replicate(3)), &mut ids(5)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "No space: a brick set needs 3 bricks on different nodes, but only 2 online node(s) have usable devices"
    );
    let mut strict = request(10, Layout::Replicate(3));
    strict.zone_strict = true;
    let same_zone = cluster((0..3).map(|i| device(i, 1, 0, 500)).collect());
    let err = place_in_cluster(&same_zone, &strict, &mut ids(6)).unwrap_err();
    assert!(err.to_string().contains("strict zone checking needs 3 zones"), "{err}");
    let mut tagged = request(10, Layout::Replicate(3));
    tagged.tag_rule = Some(filters::TagRule::parse("tier=gold").unwrap());
    let err = place_in_cluster(&three_nodes(500), &tagged, &mut ids(7)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "No space: no online device matches the tag rule tier=gold"
    );
    assert_eq!(
        place_in_cluster(&cluster(vec![]), &tagged, &mut ids(8)).unwrap_err(),
        Refusal::NoNodes
    );
}

#[test]
fn disperse_sets_have_data_plus_redundancy_bricks() {
    let c = cluster((0..6).map(|i| device(i, i as i64 % 3 + 1, 0, 500)).collect());
    let plan = place_in_cluster(
        &c,
        &request(100, Layout::Disperse { data: 4, redundancy: 2 }),
        &mut ids(9),
    )
    .unwrap();
    assert_eq!(plan.sets[0].len(), 6);
    assert_eq!(plan.sizing.brick_kib, 25 * KIB_PER_GIB);
}

#[test]
fn arbiter_bricks_go_third_and_honour_tags() {
    let mut devices: Vec<DeviceSlot> = (0..3).map(|i| device(i, i as i64 + 1, 0, 500)).collect();
    devices[0].tags.insert("arbiter".into(), "required".into());
    devices[1].tags.insert("arbiter".into(), "disabled".into());
    let mut req = request(100, Layout::Replicate(3));
    req.arbiter = true;
    let plan = place_in_cluster(&cluster(devices), &req, &mut ids(10)).unwrap();
    let set = &plan.sets[0];
    assert!(set[2].arbiter && !set[0].arbiter && !set[1].arbiter);
    assert_eq!(set[2].node, "node00", "the arbiter-only device holds the arbiter");
    assert_eq!(set[2].size_kib, 1_638_400);
    assert!(set[..2].iter().all(|b| b.node != "node00"));
}

#[test]
fn snapshot_factor_grows_the_pool() {
    let mut req = request(10, Layout::Distribute);
    req.snapshot_factor = 1.5;
    let plan = place_in_cluster(&three_nodes(500), &req, &mut ids(11)).unwrap();
    assert_eq!(plan.bricks().next().unwrap().pool.total(), 15_810_560);
}

fn layouts() -> impl Strategy<Value = Layout> {
    prop_oneof![
        Just(Layout::Distribute),
        Just(Layout::Replicate(2)),
        Just(Layout::Replicate(3)),
        Just(Layout::Disperse { data: 2, redundancy: 1 }),
        Just(Layout::Disperse { data: 4, redundancy: 2 }),
    ]
}

/// Random topologies: 1–9 nodes in 1–4 zones, 1–3 devices each, 5–800 GiB free.
fn topologies() -> impl Strategy<Value = ClusterSlot> {
    prop::collection::vec((1i64..=4, prop::collection::vec(5u64..800, 1..=3)), 1..=9).prop_map(|nodes| {
        let mut devices = Vec::new();
        for (n, (zone, frees)) in nodes.iter().enumerate() {
            for (k, free) in frees.iter().enumerate() {
                devices.push(device(n, *zone, k, *free));
            }
        }
        cluster(devices)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn placements_keep_sets_on_distinct_nodes_and_never_overdraw(
        c in topologies(), layout in layouts(), size in 1u64..400, strict in any::<bool>(), seed in any::<u64>()
    ) {
        let mut req = request(size, layout);
        req.zone_strict = strict;
        match place_in_cluster(&c, &req, &mut ids(seed)) {
            Ok(plan) => {
                let mut left: Vec<u64> = c.devices.iter().map(|d| d.free).collect();
                for set in &plan.sets {
                    prop_assert_eq!(set.len() as u64, layout.bricks_per_set());
                    let nodes: BTreeSet<_> = set.iter().map(|b| &b.node).collect();
                    prop_assert_eq!(nodes.len(), set.len(), "two bricks of a set on one node");
                    if strict {
                        let zones: BTreeSet<_> = set.iter().map(|b| c.devices.iter().find(|d| d.id == b.device).unwrap().zone).collect();
                        prop_assert_eq!(zones.len(), set.len(), "strict zones violated");
                    }
                    for b in set {
                        let i = c.devices.iter().position(|d| d.id == b.device).unwrap();
                        prop_assert!(left[i] > b.pool.total(), "device overdrawn");
                        left[i] -= b.pool.total();
                    }
                }
                let capacity = plan.sizing.sets * plan.sizing.brick_kib * layout.data_bricks();
                prop_assert!(capacity >= size * KIB_PER_GIB - plan.sizing.sets * layout.data_bricks(), "volume smaller than asked");
            }
            Err(refusal) => {
                // A refusal must be for want of space: with room without
                // limit the same request fits, unless the cluster lacks the
                // nodes (or, strictly, the zones) for one set, or the
                // volume is too small to give each data brick the minimum.
                prop_assert!(matches!(refusal, Refusal::NoSpace(_)), "refused with {refusal}");
                let per_set = layout.bricks_per_set() as usize;
                let nodes: BTreeSet<_> = c.devices.iter().map(|d| &d.node).collect();
                let zones: BTreeSet<_> = c.devices.iter().map(|d| d.zone).collect();
                let enough = nodes.len() >= per_set && (!strict || zones.len() >= per_set);
                let big_enough = size * KIB_PER_GIB / layout.data_bricks() >= LIMITS.min_brick_kib;
                let mut roomy = c.clone();
                for d in &mut roomy.devices {
                    d.free = 1 << 40;
                }
                let with_room = place_in_cluster(&roomy, &req, &mut ids(seed));
                prop_assert!(
                    with_room.is_ok() || !enough || !big_enough,
                    "refused ({refusal}) though only space was short, and with room it is still refused: {:?}",
                    with_room.err().map(|r| r.to_string())
                );
            }
        }
    }

    #[test]
    fn sets_spread_over_zones_when_zones_allow(
        zones in 3i64..=5, per_zone in 1usize..=3, layout in prop_oneof![Just(Layout::Replicate(3)), Just(Layout::Replicate(2))], size in 1u64..50, seed in any::<u64>()
    ) {
        let mut devices = Vec::new();
        let mut node = 0;
        for z in 1..=zones {
            for _ in 0..per_zone {
                devices.push(device(node, z, 0, 2000));
                node += 1;
            }
        }
        let plan = place_in_cluster(&cluster(devices.clone()), &request(size, layout), &mut ids(seed)).unwrap();
        for set in &plan.sets {
            let zs: BTreeSet<_> = set.iter().map(|b| devices.iter().find(|d| d.id == b.device).unwrap().zone).collect();
            prop_assert_eq!(zs.len(), set.len());
        }
    }
}

/// The set of a placed replica-3 volume's first brick, as a replacement sees it.
fn replacing(plan: &Plan, c: &ClusterSlot, index: usize) -> Replacement {
    let set = &plan.sets[0];
    let zone_of = |device: &str| c.devices.iter().find(|d| d.id == device).unwrap().zone;
    Replacement {
        old_device: set[index].device.clone(),
        others: set
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, b)| (b.node.clone(), zone_of(&b.device)))
            .collect(),
        size_kib: set[index].size_kib,
        arbiter: set[index].arbiter,
    }
}

#[test]
fn a_replacement_leaves_the_set_nodes_and_the_old_device() {
    let c = cluster((0..4).map(|i| device(i, i as i64 + 1, 0, 100)).collect());
    let req = request(10, Layout::Replicate(3));
    let plan = place_in_cluster(&c, &req, &mut ids(1)).unwrap();
    let old = replacing(&plan, &c, 0);
    let new = place_replacement(&c, &req, &old, "f".repeat(32)).unwrap();
    let used: BTreeSet<&str> = plan.sets[0].iter().map(|b| b.node.as_str()).collect();
    assert!(!used.contains(new.node.as_str()), "the only free node is the fourth");
    assert_eq!(new.size_kib, old.size_kib);
    assert_eq!(new.id, "f".repeat(32));
}

#[test]
fn the_old_brick_node_may_take_its_replacement_on_another_device() {
    let mut devices: Vec<DeviceSlot> = (0..3).map(|i| device(i, i as i64 + 1, 0, 100)).collect();
    devices.push(device(0, 1, 1, 100));
    let c = cluster(devices);
    let req = request(10, Layout::Replicate(3));
    let plan = place_in_cluster(&c, &req, &mut ids(2)).unwrap();
    let index = plan.sets[0].iter().position(|b| b.node == "node00").unwrap();
    let old = replacing(&plan, &c, index);
    let new = place_replacement(&c, &req, &old, "a".repeat(32)).unwrap();
    assert_eq!(new.node, "node00");
    assert_ne!(new.device, old.old_device);
}

#[test]
fn no_replacement_says_why() {
    let c = three_nodes(100);
    let req = request(10, Layout::Replicate(3));
    let plan = place_in_cluster(&c, &req, &mut ids(3)).unwrap();
    let refusal = place_replacement(&c, &req, &replacing(&plan, &c, 1), "b".repeat(32)).unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "No space: no other online device is on a node outside the brick's set"
    );

    // A fourth node too small for the brick.
    let mut devices: Vec<DeviceSlot> = (0..3).map(|i| device(i, i as i64 + 1, 0, 100)).collect();
    devices.push(device(3, 4, 0, 2));
    let c = cluster(devices);
    let plan = place_in_cluster(&c, &req, &mut ids(3)).unwrap();
    let refusal = place_replacement(&c, &req, &replacing(&plan, &c, 0), "b".repeat(32)).unwrap_err();
    assert!(
        refusal.to_string().contains("largest eligible device has 2 GiB free"),
        "{refusal}"
    );
}

#[test]
fn strict_zones_and_tags_bind_replacements() {
    // Nodes 0..3 in zones 1,2,3 and a fourth node sharing zone 2.
    let mut devices: Vec<DeviceSlot> = (0..3).map(|i| device(i, i as i64 + 1, 0, 100)).collect();
    devices.push(device(3, 2, 0, 100));
    let c = cluster(devices);
    let mut req = request(10, Layout::Replicate(3));
    req.zone_strict = true;
    let plan = place_in_cluster(&c, &req, &mut ids(4)).unwrap();
    let on_zone1 = plan.sets[0].iter().position(|b| b.node == "node00").unwrap();
    let refusal = place_replacement(&c, &req, &replacing(&plan, &c, on_zone1), "c".repeat(32)).unwrap_err();
    assert!(refusal.to_string().contains("strict zone checking"), "{refusal}");
    // Without strict checking the node left out (sharing zone 2) is acceptable.
    req.zone_strict = false;
    let new = place_replacement(&c, &req, &replacing(&plan, &c, on_zone1), "c".repeat(32)).unwrap();
    assert!(plan.sets[0].iter().all(|b| b.node != new.node));
    assert_eq!(c.devices.iter().find(|d| d.id == new.device).unwrap().zone, 2);

    let mut tagged = c.clone();
    for d in &mut tagged.devices {
        d.tags.insert("disk".into(), "hdd".into());
    }
    req.tag_rule = Some(filters::TagRule::parse("disk=ssd").unwrap());
    let refusal = place_replacement(&tagged, &req, &replacing(&plan, &c, on_zone1), "c".repeat(32)).unwrap_err();
    assert!(refusal.to_string().contains("tag rule disk=ssd"), "{refusal}");
}

#[test]
fn an_arbiter_replacement_stays_an_arbiter_on_an_arbiter_capable_device() {
    let mut devices: Vec<DeviceSlot> = (0..5).map(|i| device(i, i as i64 + 1, 0, 100)).collect();
    devices[4].tags.insert("arbiter".into(), "required".into());
    devices[3].tags.insert("arbiter".into(), "disabled".into());
    let c = cluster(devices);
    let mut req = request(10, Layout::Replicate(3));
    req.arbiter = true;
    let plan = place_in_cluster(&c, &req, &mut ids(5)).unwrap();
    let arbiter = plan.sets[0].iter().position(|b| b.arbiter).unwrap();
    assert_eq!(
        plan.sets[0][arbiter].node, "node04",
        "the arbiter-only device takes the arbiter"
    );
    let old = replacing(&plan, &c, arbiter);
    // Node 3 refuses arbiters; the rest of the set holds nodes of its own.
    let new = place_replacement(&c, &req, &old, "d".repeat(32)).unwrap();
    assert!(new.arbiter);
    assert_ne!(new.node, "node03");
    assert_eq!(new.size_kib, old.size_kib);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn replacements_never_share_a_node_with_the_set_and_respect_rules(
        c in topologies(), size in 1u64..100, strict in any::<bool>(), tagged in any::<bool>(), index in 0usize..3, seed in any::<u64>()
    ) {
        let mut c = c;
        if tagged {
            // Tag every other device; the rule admits only those.
            for (i, d) in c.devices.iter_mut().enumerate() {
                if i % 2 == 0 {
                    d.tags.insert("tier".into(), "fast".into());
                }
            }
        }
        let mut req = request(size, Layout::Replicate(3));
        req.zone_strict = strict;
        if tagged {
            req.tag_rule = Some(filters::TagRule::parse("tier=fast").unwrap());
        }
        if let Ok(plan) = place_in_cluster(&c, &req, &mut ids(seed)) {
            let old = replacing(&plan, &c, index);
            apply(&mut c.devices, &plan);
            let mut next = ids(seed ^ 0x5555);
            if let Ok(new) = place_replacement(&c, &req, &old, next()) {
                let d = c.devices.iter().find(|d| d.id == new.device).unwrap();
                prop_assert_ne!(&new.device, &old.old_device);
                prop_assert!(old.others.iter().all(|(node, _)| *node != new.node), "shares a node with its set");
                if strict {
                    prop_assert!(old.others.iter().all(|(_, z)| *z != d.zone), "strict zones violated");
                }
                if tagged {
                    prop_assert_eq!(d.tags.get("tier").map(String::as_str), Some("fast"));
                }
                prop_assert!(d.free > new.pool.total(), "device overdrawn");
                prop_assert_eq!(new.size_kib, old.size_kib);
            } else {
                // Refused: then truly no device qualifies.
                let any = c.devices.iter().any(|d| {
                    d.id != old.old_device
                        && old.others.iter().all(|(node, z)| *node != d.node && (!strict || *z != d.zone))
                        && req.tag_rule.as_ref().is_none_or(|r| r.matches(&d.tags))
                        && d.free > sizing::thin_pool(old.size_kib, 1.0, d.extent_kib).total()
                });
                prop_assert!(!any, "a qualifying device was missed");
            }
        }
    }
}
