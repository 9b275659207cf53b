//! Size formulas: thin pools, brick-set sizing and arbiter bricks. All sizes
//! are KiB, as in Heketi.

pub const KIB_PER_GIB: u64 = 1_048_576;
/// Heketi caps thin-pool metadata at 16 GiB.
pub const MAX_POOL_METADATA_KIB: u64 = 16 * KIB_PER_GIB;
/// The smallest arbiter brick: 320 MiB. Heketi's 16 MiB predates
/// xfsprogs 5.19, whose mkfs.xfs refuses file systems under 300 MB, so
/// small arbiter volumes failed on every current node.
pub const MIN_ARBITER_KIB: u64 = 320 * 1024;

/// The space one brick takes from its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize {
    /// Thin-pool data size.
    pub tp: u64,
    /// Thin-pool metadata size.
    pub meta: u64,
}

impl PoolSize {
    pub fn total(&self) -> u64 {
        self.tp + self.meta
    }
}

fn round_up(value: u64, unit: u64) -> u64 {
    if unit == 0 {
        value
    } else {
        value.div_ceil(unit) * unit
    }
}

/// Thin pool for a brick of `brick_kib` with snapshot factor `factor`, on a
/// device whose extents are `extent_kib`. The factor is Heketi's float32,
/// widened, so results match Heketi to the KiB.
pub fn thin_pool(brick_kib: u64, factor: f32, extent_kib: u64) -> PoolSize {
    let tp = (brick_kib as f64 * f64::from(factor)).floor() as u64;
    let tp = round_up(tp, extent_kib);
    let meta = ((tp as f64) * 0.005).floor() as u64;
    let meta = round_up(meta.min(MAX_POOL_METADATA_KIB), extent_kib);
    PoolSize { tp, meta }
}

/// Data bricks too small for the expected average file size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Average file size ({average_kib}) is greater than Brick size ({brick_kib})")]
pub struct ArbiterTooSmall {
    pub average_kib: u64,
    pub brick_kib: u64,
}

/// The arbiter brick for data bricks of `data_brick_kib`.
pub fn arbiter_brick(data_brick_kib: u64, average_file_kib: u64) -> Result<u64, ArbiterTooSmall> {
    let average = average_file_kib.max(1);
    if data_brick_kib < average {
        return Err(ArbiterTooSmall {
            average_kib: average,
            brick_kib: data_brick_kib,
        });
    }
    Ok((data_brick_kib / average).max(MIN_ARBITER_KIB))
}

/// How many brick sets, and how big each brick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetSizing {
    pub sets: u64,
    pub brick_kib: u64,
}

/// Why no more sizings can be offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizingEnd {
    /// The next brick would be below the minimum brick size.
    MinimumBrickSize,
    /// The next layout would exceed the bricks-per-volume limit.
    MaximumBricks,
}

/// Brick limits that shape the sizings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrickLimits {
    pub min_brick_kib: u64,
    pub max_brick_kib: u64,
    pub max_bricks_per_volume: u64,
}

/// Heketi's halving sequence: 1, 2, 4 … sets of `size / sets` (divided by
/// the data bricks of a disperse set), skipping bricks above the maximum,
/// ending below the minimum brick size or above the brick limit.
pub fn halving(
    size_kib: u64,
    data_bricks: u64,
    bricks_per_set: u64,
    existing_bricks: u64,
    limits: BrickLimits,
) -> (Vec<SetSizing>, SizingEnd) {
    let mut out = Vec::new();
    let mut sets: u64 = 1;
    loop {
        let brick = size_kib / sets / data_bricks.max(1);
        if brick < limits.min_brick_kib {
            return (out, SizingEnd::MinimumBrickSize);
        }
        if brick <= limits.max_brick_kib {
            if sets * bricks_per_set + existing_bricks > limits.max_bricks_per_volume {
                return (out, SizingEnd::MaximumBricks);
            }
            out.push(SetSizing { sets, brick_kib: brick });
        }
        sets = sets.saturating_mul(2);
        if sets > limits.max_bricks_per_volume.max(1) * 2 {
            return (out, SizingEnd::MaximumBricks);
        }
    }
}

/// Brickyard's extension, tried only after the halving sequence found no
/// fit: every other set count in increasing order, with bricks rounded up so
/// the volume is never smaller than asked.
pub fn extended(
    size_kib: u64,
    data_bricks: u64,
    bricks_per_set: u64,
    existing_bricks: u64,
    limits: BrickLimits,
) -> Vec<SetSizing> {
    let mut out = Vec::new();
    let mut sets = 1;
    while sets * bricks_per_set + existing_bricks <= limits.max_bricks_per_volume {
        if !sets.is_power_of_two() {
            let brick = size_kib.div_ceil(sets).div_ceil(data_bricks.max(1));
            if brick < limits.min_brick_kib {
                break;
            }
            if brick <= limits.max_brick_kib {
                out.push(SetSizing { sets, brick_kib: brick });
            }
        }
        sets += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: BrickLimits = BrickLimits {
        min_brick_kib: KIB_PER_GIB,
        max_brick_kib: 4096 * KIB_PER_GIB,
        max_bricks_per_volume: 32,
    };

    #[test]
    fn thin_pool_worked_numbers_from_the_reference() {
        let p = thin_pool(10 * KIB_PER_GIB, 1.0, 4096);
        assert_eq!((p.tp, p.meta, p.total()), (10_485_760, 53_248, 10_539_008));
        let p = thin_pool(10 * KIB_PER_GIB, 1.5, 4096);
        assert_eq!((p.tp, p.meta, p.total()), (15_728_640, 81_920, 15_810_560));
        // float32 widening: 1.2f32 is 1.2000000476837158.
        let p = thin_pool(1_000_000, 1.2, 1);
        assert_eq!(p.tp, 1_200_000);
        // The metadata cap.
        let p = thin_pool(4096 * KIB_PER_GIB, 1.0, 4096);
        assert_eq!(p.meta, MAX_POOL_METADATA_KIB);
    }

    #[test]
    fn halving_sequence_matches_the_reference_examples() {
        let (s, end) = halving(100 * KIB_PER_GIB, 1, 3, 0, DEFAULTS);
        let got: Vec<_> = s.iter().map(|x| (x.sets, x.brick_kib)).collect();
        assert_eq!(
            got,
            [(1, 104_857_600), (2, 52_428_800), (4, 26_214_400), (8, 13_107_200)]
        );
        assert_eq!(end, SizingEnd::MaximumBricks);
        let (s, _) = halving(100 * KIB_PER_GIB, 4, 6, 0, DEFAULTS);
        let got: Vec<_> = s.iter().map(|x| (x.sets, x.brick_kib)).collect();
        assert_eq!(got, [(1, 26_214_400), (2, 13_107_200), (4, 6_553_600)]);
        // A 1 GiB replica-3 volume: one set, then the minimum brick size ends it.
        let (s, end) = halving(KIB_PER_GIB, 1, 3, 0, DEFAULTS);
        assert_eq!(
            s,
            [SetSizing {
                sets: 1,
                brick_kib: KIB_PER_GIB
            }]
        );
        assert_eq!(end, SizingEnd::MinimumBrickSize);
    }

    #[test]
    fn oversized_bricks_are_skipped() {
        let limits = BrickLimits {
            max_brick_kib: 10 * KIB_PER_GIB,
            ..DEFAULTS
        };
        let (s, _) = halving(40 * KIB_PER_GIB, 1, 1, 0, limits);
        assert_eq!(
            s[0],
            SetSizing {
                sets: 4,
                brick_kib: 10 * KIB_PER_GIB
            }
        );
    }

    #[test]
    fn extended_search_offers_other_counts_rounded_up() {
        let e = extended(10 * KIB_PER_GIB, 1, 3, 0, DEFAULTS);
        assert_eq!(
            e[0],
            SetSizing {
                sets: 3,
                brick_kib: (10 * KIB_PER_GIB).div_ceil(3)
            }
        );
        assert!(e.iter().all(|s| !s.sets.is_power_of_two() && s.sets * 3 <= 32));
        assert!(e.iter().all(|s| s.sets * s.brick_kib >= 10 * KIB_PER_GIB));
    }

    #[test]
    fn arbiter_sizes() {
        assert_eq!(arbiter_brick(100 * KIB_PER_GIB, 64).unwrap(), 1_638_400);
        assert_eq!(arbiter_brick(KIB_PER_GIB, 64).unwrap(), MIN_ARBITER_KIB);
        assert!(arbiter_brick(32, 64).is_err());
    }
}
