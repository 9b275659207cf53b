//! Heketi's heal check before a brick is replaced: the old brick must
//! have nothing to heal, and enough of its set's other bricks must be
//! online (gluster reports them `Connected`) to keep the set whole.

use std::collections::HashMap;

use crate::executor::HealEntry;
use crate::placement::Layout;

use super::OpError;

/// Bricks of the set still online that a replacement needs: Heketi's rule.
pub(crate) fn quorum(layout: Layout) -> usize {
    match layout {
        Layout::Replicate(n) if n < 3 => 1,
        Layout::Replicate(n) => (n / 2 + 1) as usize,
        Layout::Disperse { data, .. } => data as usize,
        Layout::Distribute => 1,
    }
}

/// Heketi's rule on a set's heal report: the old brick must have nothing to
/// heal, and enough of the set's other bricks must be `Connected` (quorum).
/// `names` maps gluster's brick names to brick ids.
pub(crate) fn judge_heal(
    entries: &[HealEntry],
    names: &HashMap<String, String>,
    old: &str,
    layout: Layout,
) -> Result<(), OpError> {
    let mut online_peers = 0;
    for e in entries.iter().filter(|e| e.brick != "information not available") {
        let Some(id) = names.get(&e.brick) else {
            continue;
        };
        if id == old {
            if e.entries != "-" && e.entries != "0" {
                return Err(OpError::Internal(format!(
                    "Cannot replace brick {old} as it is source brick for data to be healed"
                )));
            }
        } else if e.connected() {
            online_peers += 1;
        }
    }
    let needed = quorum(layout);
    if online_peers < needed {
        return Err(OpError::Internal(format!(
            "Cannot replace brick {old} as only {online_peers} of {needed} required peer bricks are online"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(brick: &str, status: &str, entries: &str) -> HealEntry {
        HealEntry {
            brick: brick.into(),
            status: status.into(),
            entries: entries.into(),
        }
    }

    /// A set of `n` bricks `h0:/b` … with ids `b0` …, the old one first.
    fn set(n: usize) -> HashMap<String, String> {
        (0..n).map(|i| (format!("h{i}:/b"), format!("b{i}"))).collect()
    }

    fn report(statuses: &[(&str, &str)]) -> Vec<HealEntry> {
        statuses
            .iter()
            .enumerate()
            .map(|(i, (status, pending))| entry(&format!("h{i}:/b"), status, pending))
            .collect()
    }

    #[test]
    fn quorum_is_heketis() {
        assert_eq!(quorum(Layout::Replicate(2)), 1);
        assert_eq!(quorum(Layout::Replicate(3)), 2);
        assert_eq!(quorum(Layout::Replicate(4)), 3);
        assert_eq!(quorum(Layout::Disperse { data: 4, redundancy: 2 }), 4);
        assert_eq!(quorum(Layout::Disperse { data: 2, redundancy: 1 }), 2);
        assert_eq!(quorum(Layout::Distribute), 1);
    }

    #[test]
    fn a_brick_others_heal_from_is_not_replaced() {
        let r = report(&[("Connected", "3"), ("Connected", "0"), ("Connected", "0")]);
        let e = judge_heal(&r, &set(3), "b0", Layout::Replicate(3)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot replace brick b0 as it is source brick for data to be healed"
        );
        // Unknown (`-`) and zero are nothing to heal.
        let r = report(&[
            ("Transport endpoint is not connected", "-"),
            ("Connected", "0"),
            ("Connected", "0"),
        ]);
        judge_heal(&r, &set(3), "b0", Layout::Replicate(3)).unwrap();
    }

    #[test]
    fn peers_count_only_when_connected() {
        let r = report(&[
            ("Connected", "0"),
            ("Connected", "0"),
            ("Transport endpoint is not connected", "-"),
        ]);
        let e = judge_heal(&r, &set(3), "b0", Layout::Replicate(3)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot replace brick b0 as only 1 of 2 required peer bricks are online"
        );
        // gluster's placeholder for a down brick counts as nothing.
        let mut r = report(&[("Connected", "0"), ("Connected", "0"), ("Connected", "0")]);
        r[2].brick = "information not available".into();
        assert!(judge_heal(&r, &set(3), "b0", Layout::Replicate(3)).is_err());
    }

    #[test]
    fn a_disperse_set_needs_its_data_bricks_among_the_others() {
        // 4+2: five peers, four of them connected, is enough; three is not.
        let mut statuses = vec![("Connected", "0"); 6];
        statuses[5] = ("Disconnected", "-");
        judge_heal(
            &report(&statuses),
            &set(6),
            "b0",
            Layout::Disperse { data: 4, redundancy: 2 },
        )
        .unwrap();
        statuses[4] = ("Disconnected", "-");
        let e = judge_heal(
            &report(&statuses),
            &set(6),
            "b0",
            Layout::Disperse { data: 4, redundancy: 2 },
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot replace brick b0 as only 3 of 4 required peer bricks are online"
        );
    }

    #[test]
    fn bricks_outside_the_set_are_not_counted() {
        let mut r = report(&[("Connected", "0"), ("Connected", "0"), ("Connected", "0")]);
        r.push(entry("elsewhere:/b", "Connected", "0"));
        let mut names = set(2);
        names.remove("h2:/b");
        let e = judge_heal(&r, &names, "b0", Layout::Replicate(3)).unwrap_err();
        assert!(e.to_string().contains("only 1 of 2"), "{e}");
    }
}
