//! Parsers for what storage-node commands print: `vgdisplay -c`, LVM's JSON
//! reports, `udevadm` symlinks and gluster's `--xml` output; `block`,
//! gluster-block's `--json` answers.

mod block;

pub use block::{block_absent, block_create, block_info, block_list, block_result, size_gib, BlockAnswerError};

use serde::Deserialize;

use super::{LvEntry, MountEntry, BRICK_MOUNT_ROOTS};

/// What a failed command says: gluster and LVM tell "already gone",
/// "already done" or "out of time" only in words, read here (case aside,
/// but for `TimedOut`, matched as written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said {
    /// LVM and gluster: "not found".
    NotFound,
    /// LVM: "failed to find".
    FailedToFind,
    /// Gluster: "does not exist".
    DoesNotExist,
    /// Gluster: "already exists".
    AlreadyExists,
    /// Gluster: "already started".
    AlreadyStarted,
    /// "no such file or directory".
    NoSuchFileOrDirectory,
    /// Gluster's CLI when its `--timeout` ran out: "Request timed out".
    TimedOut,
}

impl Said {
    fn words(self) -> &'static str {
        match self {
            Said::NotFound => "not found",
            Said::FailedToFind => "failed to find",
            Said::DoesNotExist => "does not exist",
            Said::AlreadyExists => "already exists",
            Said::AlreadyStarted => "already started",
            Said::NoSuchFileOrDirectory => "no such file or directory",
            Said::TimedOut => "timed out",
        }
    }

    /// Whether `text` (a command's output or gluster's error string) says this.
    pub fn in_text(self, text: &str) -> bool {
        match self {
            // As written, the one way it has always been read.
            Said::TimedOut => text.contains(self.words()),
            _ => text.to_lowercase().contains(self.words()),
        }
    }
}

/// Output that does not read as the command's should, or a gluster
/// command that failed in its XML. The texts are what users see.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("vgdisplay returned {fields} fields instead of at least 17: {line:?}")]
    VgdisplayFields { fields: usize, line: String },
    #[error("vgdisplay field {field} is not a number: {value:?}")]
    VgdisplayNumber {
        field: usize,
        value: String,
        #[source]
        source: std::num::ParseIntError,
    },
    #[error("unreadable LVM report: {0}")]
    LvmReport(#[source] serde_json::Error),
    #[error("LVM returned {0} reports instead of one")]
    LvmReports(usize),
    #[error("LVM reported {pvs} physical volumes and {vgs} volume groups instead of one")]
    LvmRows { pvs: usize, vgs: usize },
    #[error("unexpected thin pool LV count {output:?}")]
    ThinCount {
        output: String,
        #[source]
        source: std::num::ParseIntError,
    },
    #[error("unreadable gluster XML: {0}")]
    GlusterXml(#[source] roxmltree::Error),
    #[error("unexpected gluster XML root <{0}>")]
    GlusterRoot(String),
    /// Gluster failed without saying why.
    #[error("gluster failed with opRet {0}")]
    GlusterOpRet(String),
    /// Gluster failed and said why (`opErrstr`).
    #[error("{0}")]
    Gluster(String),
    #[error("gluster heal info lists no bricks")]
    NoHealBricks,
}

impl ParseError {
    /// Whether gluster itself said this (`opErrstr`), as opposed to output
    /// that could not be read.
    pub fn gluster_says(&self, said: Said) -> bool {
        matches!(self, ParseError::Gluster(message) if said.in_text(message))
    }
}

/// Sizes from `vgdisplay -c`, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VgSizes {
    pub extent_size: u64,
    pub total: u64,
    pub used: u64,
    pub free: u64,
}

/// One colon-separated line: field 12 is the extent size (KiB), 13 the
/// total extents, 14 the allocated ones and 15 the free ones.
pub fn vgdisplay(output: &str) -> Result<VgSizes, ParseError> {
    let line = output.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let fields: Vec<&str> = line.split(':').collect();
    if fields.len() < 17 {
        return Err(ParseError::VgdisplayFields {
            fields: fields.len(),
            line: line.to_string(),
        });
    }
    let number = |i: usize| -> Result<u64, ParseError> {
        fields[i]
            .trim()
            .parse::<u64>()
            .map_err(|source| ParseError::VgdisplayNumber {
                field: i,
                value: fields[i].to_string(),
                source,
            })
    };
    let extent_size = number(12)?;
    Ok(VgSizes {
        extent_size,
        total: number(13)? * extent_size,
        used: number(14)? * extent_size,
        free: number(15)? * extent_size,
    })
}

#[derive(Deserialize)]
struct Report {
    report: Vec<ReportSection>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReportSection {
    pv: Vec<PvRow>,
    vg: Vec<PvRow>,
    lv: Vec<LvRow>,
}

/// A row of `pvs`/`vgs -o pv_name,pv_uuid,vg_name`.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PvRow {
    pub pv_name: String,
    pub pv_uuid: String,
    pub vg_name: String,
}

/// A row of `lvs -o vg_name,lv_name,pool_lv`.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
struct LvRow {
    vg_name: String,
    lv_name: String,
    #[serde(default)]
    pool_lv: String,
    #[serde(default)]
    origin: String,
}

/// LVM's JSON report.
fn lvm_report(output: &str) -> Result<Report, ParseError> {
    serde_json::from_str(output.trim()).map_err(ParseError::LvmReport)
}

/// The LVs of `lvs --reportformat=json -o vg_name,lv_name,pool_lv,origin` in
/// volume groups named `vg_*` (Heketi's and Brickyard's).
pub fn lv_report(output: &str) -> Result<Vec<LvEntry>, ParseError> {
    let report = lvm_report(output)?;
    Ok(report
        .report
        .into_iter()
        .flat_map(|section| section.lv)
        .filter(|row| row.vg_name.starts_with("vg_"))
        .map(|row| LvEntry {
            vg: row.vg_name,
            lv: row.lv_name,
            pool: (!row.pool_lv.is_empty()).then_some(row.pool_lv),
            origin: (!row.origin.is_empty()).then_some(row.origin),
        })
        .collect())
}

/// Mount points of `/proc/mounts` under the brick mount roots, with the
/// kernel's octal escapes (`\040` for a space) decoded.
pub fn brick_mounts(proc_mounts: &str) -> Vec<MountEntry> {
    proc_mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            Some(MountEntry {
                source: unescape_octal(fields.next()?),
                target: unescape_octal(fields.next()?),
            })
        })
        .filter(|m| BRICK_MOUNT_ROOTS.iter().any(|root| m.target.starts_with(root)))
        .collect()
}

/// The brick directories `find` listed under Heketi's mount root.
pub fn brick_dirs(listing: &str) -> Vec<String> {
    listing
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with(BRICK_MOUNT_ROOTS[0]))
        .map(str::to_string)
        .collect()
}

/// fstab lines that mount something under Heketi's mount root.
pub fn brick_fstab_lines(fstab: &str) -> Vec<String> {
    fstab
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|m| m.starts_with(BRICK_MOUNT_ROOTS[0]))
        })
        .map(str::to_string)
        .collect()
}

fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes
            .get(i + 1..i + 4)
            .filter(|d| d[0] <= b'3' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (bytes[i], digits) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Exactly one report holding exactly one PV (or one VG) row.
pub fn pv_report(output: &str) -> Result<PvRow, ParseError> {
    let report = lvm_report(output)?;
    let [section] = report.report.as_slice() else {
        return Err(ParseError::LvmReports(report.report.len()));
    };
    match (section.pv.as_slice(), section.vg.as_slice()) {
        ([row], _) | ([], [row]) => Ok(row.clone()),
        (pvs, vgs) => Err(ParseError::LvmRows {
            pvs: pvs.len(),
            vgs: vgs.len(),
        }),
    }
}

/// `udevadm info --query=symlink` output as device paths: each item under
/// `/dev/`, LVM's own by-uuid link left out, `path` itself last.
pub fn device_paths(udev_output: &str, path: &str) -> Vec<String> {
    let mut paths: Vec<String> = udev_output
        .split_whitespace()
        .map(|item| format!("/dev/{item}"))
        .filter(|p| !p.starts_with("/dev/disk/by-id/lvm-pv-uuid-"))
        .collect();
    if !paths.iter().any(|p| p == path) {
        paths.push(path.to_string());
    }
    paths
}

pub fn thin_count(output: &str) -> Result<u64, ParseError> {
    output.trim().parse().map_err(|source| ParseError::ThinCount {
        output: output.trim().to_string(),
        source,
    })
}

/// The parts of `gluster volume info --xml` Brickyard uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlusterVolume {
    pub name: String,
    pub id: String,
    pub status: String,
    pub dist_count: u64,
    pub replica_count: u64,
    pub disperse_count: u64,
    /// `host:/path`, in gluster's order: the authoritative brick layout.
    pub bricks: Vec<String>,
}

pub(super) fn child_text<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    node.children().find(|c| c.has_tag_name(name)).and_then(|c| c.text())
}

fn descend<'a>(mut node: roxmltree::Node<'a, 'a>, path: &[&str]) -> Option<roxmltree::Node<'a, 'a>> {
    for name in path {
        node = node.children().find(|c| c.has_tag_name(*name))?;
    }
    Some(node)
}

/// Gluster can exit 0 while failing: `opRet`/`opErrstr` tell.
pub(super) fn cli_output(xml: &str) -> Result<roxmltree::Document<'_>, ParseError> {
    let doc = roxmltree::Document::parse(xml.trim()).map_err(ParseError::GlusterXml)?;
    let root = doc.root_element();
    if !root.has_tag_name("cliOutput") {
        return Err(ParseError::GlusterRoot(root.tag_name().name().to_string()));
    }
    let op_ret = child_text(root, "opRet").unwrap_or("0").trim().to_string();
    let op_err = child_text(root, "opErrstr").unwrap_or("").trim().to_string();
    if op_ret != "0" || !op_err.is_empty() {
        return Err(if op_err.is_empty() {
            ParseError::GlusterOpRet(op_ret)
        } else {
            ParseError::Gluster(op_err)
        });
    }
    Ok(doc)
}

/// The volumes of `gluster volume info [NAME] --xml`.
pub fn volume_info(xml: &str) -> Result<Vec<GlusterVolume>, ParseError> {
    let doc = cli_output(xml)?;
    let Some(volumes) = descend(doc.root_element(), &["volInfo", "volumes"]) else {
        return Ok(Vec::new());
    };
    let number = |node, name| child_text(node, name).and_then(|t| t.trim().parse().ok()).unwrap_or(0);
    Ok(volumes
        .children()
        .filter(|c| c.has_tag_name("volume"))
        .map(|v| GlusterVolume {
            name: child_text(v, "name").unwrap_or_default().to_string(),
            id: child_text(v, "id").unwrap_or_default().to_string(),
            status: child_text(v, "statusStr").unwrap_or_default().to_string(),
            dist_count: number(v, "distCount"),
            replica_count: number(v, "replicaCount"),
            disperse_count: number(v, "disperseCount"),
            bricks: descend(v, &["bricks"])
                .map(|b| {
                    b.children()
                        .filter(|c| c.has_tag_name("brick"))
                        .filter_map(|c| child_text(c, "name").map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect())
}

/// Every hostname of every peer in `gluster peer status --xml` (the node
/// itself is not among them): a peer's `hostname` and its other names.
pub fn peer_hostnames(xml: &str) -> Result<Vec<String>, ParseError> {
    let doc = cli_output(xml)?;
    let Some(peers) = descend(doc.root_element(), &["peerStatus"]) else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for peer in peers.children().filter(|c| c.has_tag_name("peer")) {
        names.extend(child_text(peer, "hostname").map(|t| t.trim().to_string()));
        if let Some(more) = descend(peer, &["hostnames"]) {
            let listed = more.children().filter(|c| c.has_tag_name("hostname"));
            names.extend(listed.filter_map(|c| c.text()).map(|t| t.trim().to_string()));
        }
    }
    names.retain(|n| !n.is_empty());
    names.sort();
    names.dedup();
    Ok(names)
}

/// One brick's line in `gluster volume heal VOL info --xml`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct HealEntry {
    /// `host:/path`, or gluster's `information not available` for some down bricks.
    pub brick: String,
    /// `Connected` when the brick answered.
    pub status: String,
    /// Entries awaiting heal on this brick: a number, or `-` when unknown.
    pub entries: String,
}

impl HealEntry {
    pub fn connected(&self) -> bool {
        self.status.trim() == "Connected"
    }
}

/// The bricks of `gluster volume heal VOL info --xml`.
pub fn heal_info(xml: &str) -> Result<Vec<HealEntry>, ParseError> {
    let doc = cli_output(xml)?;
    let Some(bricks) = descend(doc.root_element(), &["healInfo", "bricks"]) else {
        return Err(ParseError::NoHealBricks);
    };
    Ok(bricks
        .children()
        .filter(|c| c.has_tag_name("brick"))
        .map(|b| HealEntry {
            brick: child_text(b, "name").unwrap_or_default().trim().to_string(),
            status: child_text(b, "status").unwrap_or_default().trim().to_string(),
            entries: child_text(b, "numberOfEntries").unwrap_or("-").trim().to_string(),
        })
        .collect())
}

/// Checks a `--xml` snapshot or clone command's result.
pub fn cli_result(xml: &str) -> Result<(), ParseError> {
    cli_output(xml).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_hostnames_are_every_name_of_every_other_peer() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/>
  <peerStatus>
    <peer><uuid>a</uuid><hostname>10.0.0.2</hostname>
      <hostnames><hostname>10.0.0.2</hostname><hostname>node2</hostname></hostnames>
      <connected>1</connected><state>3</state><stateStr>Peer in Cluster</stateStr></peer>
    <peer><uuid>b</uuid><hostname>10.0.0.3</hostname><connected>0</connected></peer>
  </peerStatus>
</cliOutput>"#;
        assert_eq!(
            peer_hostnames(xml).unwrap(),
            ["10.0.0.2", "10.0.0.3", "node2"].map(String::from)
        );
        let alone = "<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/><peerStatus/></cliOutput>";
        assert_eq!(peer_hostnames(alone).unwrap(), Vec::<String>::new());
        let failed = "<cliOutput><opRet>-1</opRet><opErrno>0</opErrno><opErrstr>glusterd down</opErrstr></cliOutput>";
        assert!(peer_hostnames(failed).is_err());
    }

    #[test]
    fn brick_dirs_are_those_under_heketis_root() {
        let listing = "/var/lib/heketi/mounts/vg_d/brick_b/brick\n/elsewhere/brick\n\n";
        assert_eq!(brick_dirs(listing), ["/var/lib/heketi/mounts/vg_d/brick_b/brick"]);
    }

    #[test]
    fn inventories_keep_only_brickyards_objects() {
        let lvs = r#"{"report":[{"lv":[
            {"vg_name":"vg_abc","lv_name":"tp_1","pool_lv":""},
            {"vg_name":"vg_abc","lv_name":"brick_1","pool_lv":"tp_1","origin":""},
            {"vg_name":"vg_abc","lv_name":"s_0","pool_lv":"tp_1","origin":"brick_1"},
            {"vg_name":"system","lv_name":"root","pool_lv":""}]}]}"#;
        let entry = |lv: &str, pool: Option<&str>, origin: Option<&str>| LvEntry {
            vg: "vg_abc".into(),
            lv: lv.into(),
            pool: pool.map(str::to_string),
            origin: origin.map(str::to_string),
        };
        assert_eq!(
            lv_report(lvs).unwrap(),
            vec![
                entry("tp_1", None, None),
                entry("brick_1", Some("tp_1"), None),
                entry("s_0", Some("tp_1"), Some("brick_1")),
            ]
        );
        assert!(lv_report("not json").is_err());
        let mounts = "/dev/sda1 / ext4 rw 0 0\n\
            /dev/mapper/vg_abc-brick_1 /var/lib/heketi/mounts/vg_abc/brick_1 xfs rw 0 0\n\
            /dev/mapper/vg_abc-x_0 /run/gluster/snaps/x/brick1 xfs rw 0 0\n\
            /dev/sdb /var/lib/heketi/mounts/odd\\040name xfs rw 0 0\n";
        let targets: Vec<String> = brick_mounts(mounts).into_iter().map(|m| m.target).collect();
        assert_eq!(
            targets,
            vec![
                "/var/lib/heketi/mounts/vg_abc/brick_1",
                "/run/gluster/snaps/x/brick1",
                "/var/lib/heketi/mounts/odd name"
            ]
        );
        assert_eq!(brick_mounts(mounts)[1].source, "/dev/mapper/vg_abc-x_0");
        let fstab = "# /var/lib/heketi/mounts/commented\n\
            UUID=1 / ext4 defaults 0 1\n\
            /dev/mapper/vg_abc-brick_1 /var/lib/heketi/mounts/vg_abc/brick_1 xfs rw,inode64,noatime,nouuid 1 2\n";
        assert_eq!(
            brick_fstab_lines(fstab),
            vec!["/dev/mapper/vg_abc-brick_1 /var/lib/heketi/mounts/vg_abc/brick_1 xfs rw,inode64,noatime,nouuid 1 2"]
        );
    }

    #[test]
    fn vgdisplay_gives_heketi_sizes() {
        let line = "  vg_test:r/w:772:-1:0:0:0:-1:0:1:1:8253440:4096:2015:10:2005:Vx4X-uuid\n";
        let sizes = vgdisplay(line).unwrap();
        assert_eq!(
            sizes,
            VgSizes {
                extent_size: 4096,
                total: 2015 * 4096,
                used: 10 * 4096,
                free: 2005 * 4096
            }
        );
        assert!(vgdisplay("vg:r/w:1").unwrap_err().to_string().contains("17"));
        assert!(vgdisplay("a:b:c:d:e:f:g:h:i:j:k:l:x:1:1:1:u").is_err());
    }

    #[test]
    fn pv_reports_need_exactly_one_row() {
        let pv = r#"{"report":[{"pv":[{"pv_name":"/dev/sdb","pv_uuid":"abc-123","vg_name":"vg_1"}]}]}"#;
        assert_eq!(pv_report(pv).unwrap().pv_uuid, "abc-123");
        let vg = r#"  {"report":[{"vg":[{"pv_name":"/dev/sdb","pv_uuid":"u","vg_name":"vg_1"}]}]}  "#;
        assert_eq!(pv_report(vg).unwrap().pv_name, "/dev/sdb");
        assert!(pv_report(r#"{"report":[{"pv":[]}]}"#).is_err());
        assert!(pv_report(r#"{"report":[]}"#).is_err());
        assert!(pv_report("Failed to find device").is_err());
    }

    #[test]
    fn udev_links_skip_lvm_uuid_and_end_with_the_path() {
        let out = "disk/by-id/wwn-0x1 disk/by-path/pci-0:1 disk/by-id/lvm-pv-uuid-abc\n";
        assert_eq!(
            device_paths(out, "/dev/sdb"),
            ["/dev/disk/by-id/wwn-0x1", "/dev/disk/by-path/pci-0:1", "/dev/sdb"]
        );
        assert_eq!(device_paths("", "/dev/sdb"), ["/dev/sdb"]);
    }

    const INFO: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/><volInfo><volumes>
<volume><name>vol_1</name><id>6b1e-11</id><status>1</status><statusStr>Started</statusStr>
<brickCount>6</brickCount><distCount>2</distCount><replicaCount>3</replicaCount><disperseCount>0</disperseCount>
<bricks><brick uuid="a">10.0.0.1:/b/1<name>10.0.0.1:/b/1</name><hostUuid>a</hostUuid><isArbiter>0</isArbiter></brick>
<brick uuid="b">10.0.0.2:/b/2<name>10.0.0.2:/b/2</name><hostUuid>b</hostUuid><isArbiter>0</isArbiter></brick></bricks>
</volume><count>1</count></volumes></volInfo></cliOutput>"#;

    #[test]
    fn volume_info_keeps_gluster_brick_order() {
        let vols = volume_info(INFO).unwrap();
        assert_eq!(vols.len(), 1);
        assert_eq!(vols[0].name, "vol_1");
        assert_eq!(vols[0].id, "6b1e-11");
        assert_eq!(vols[0].dist_count, 2);
        assert_eq!(vols[0].replica_count, 3);
        assert_eq!(vols[0].status, "Started");
        assert_eq!(vols[0].bricks, ["10.0.0.1:/b/1", "10.0.0.2:/b/2"]);
    }

    #[test]
    fn heal_info_reads_every_brick() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput><healInfo><bricks>
<brick hostUuid="a"><name>10.0.0.1:/b/1</name><status>Connected</status><totalNumberOfEntries>0</totalNumberOfEntries><numberOfEntries>0</numberOfEntries></brick>
<brick hostUuid="b"><name>10.0.0.2:/b/2</name><status>Transport endpoint is not connected</status><numberOfEntries>-</numberOfEntries></brick>
<brick hostUuid="c"><name>10.0.0.3:/b/3</name><status>Connected</status><numberOfEntries>4</numberOfEntries></brick>
</bricks></healInfo><opRet>0</opRet><opErrno>0</opErrno><opErrstr/></cliOutput>"#;
        let entries = heal_info(xml).unwrap();
        assert_eq!(entries.len(), 3);
        assert!(entries[0].connected() && entries[0].entries == "0");
        assert!(!entries[1].connected());
        assert_eq!(entries[1].entries, "-");
        assert_eq!(entries[2].brick, "10.0.0.3:/b/3");
        assert_eq!(entries[2].entries, "4");
        let refused = "<cliOutput><opRet>-1</opRet><opErrno>0</opErrno><opErrstr>Volume vol_1 is not of type replicate/disperse</opErrstr></cliOutput>";
        assert_eq!(
            heal_info(refused).unwrap_err().to_string(),
            "Volume vol_1 is not of type replicate/disperse"
        );
    }

    #[test]
    fn gluster_errors_surface_even_with_exit_zero() {
        let xml = "<cliOutput><opRet>-1</opRet><opErrno>30800</opErrno><opErrstr>Volume vol_9 does not exist</opErrstr></cliOutput>";
        assert_eq!(volume_info(xml).unwrap_err().to_string(), "Volume vol_9 does not exist");
        assert!(cli_result("<cliOutput><opRet>0</opRet><opErrstr></opErrstr></cliOutput>").is_ok());
        assert!(cli_result("not xml").is_err());
    }
}
