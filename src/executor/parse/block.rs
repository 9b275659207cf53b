//! gluster-block's `--json` answers: create, delete, modify and info, read
//! with Heketi's rules (a `RESULT` of `FAIL` carries `errMsg`; sizes such as
//! `"2.0 GiB"` are read to whole GiB).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::executor::{block_iqn, BlockVolumeCreated, BlockVolumeReport};

/// What gluster-block printed does not read as its answer, or says it failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlockAnswerError {
    #[error("Unparsable error during block volume {what}: {output}")]
    Unparsable { what: &'static str, output: String },
    /// `RESULT` was `FAIL`; gluster-block's `errMsg`.
    #[error("{0}")]
    Failed(String),
    #[error("Not a valid Size")]
    Size(String),
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CreateAnswer {
    #[serde(rename = "IQN")]
    iqn: String,
    #[serde(rename = "USERNAME")]
    username: String,
    #[serde(rename = "PASSWORD")]
    password: String,
    #[serde(rename = "PORTAL(S)")]
    portals: Vec<String>,
    #[serde(flatten)]
    outcome: ResultAnswer,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResultAnswer {
    #[serde(rename = "RESULT")]
    result: String,
    #[serde(rename = "errMsg")]
    err_msg: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InfoAnswer {
    #[serde(rename = "NAME")]
    name: String,
    #[serde(rename = "VOLUME")]
    volume: String,
    #[serde(rename = "GBID")]
    gbid: String,
    #[serde(rename = "SIZE")]
    size: String,
    #[serde(rename = "HA")]
    ha: u64,
    #[serde(rename = "PASSWORD")]
    password: String,
    #[serde(rename = "EXPORTED ON")]
    exported_on: Vec<String>,
    #[serde(rename = "RESIZE FAILED ON")]
    resize_failed_on: BTreeMap<String, String>,
    #[serde(flatten)]
    outcome: ResultAnswer,
}

const FAIL: &str = "FAIL";

fn read<T: for<'de> Deserialize<'de>>(what: &'static str, output: &str) -> Result<T, BlockAnswerError> {
    serde_json::from_str(output.trim()).map_err(|_| BlockAnswerError::Unparsable {
        what,
        output: output.to_string(),
    })
}

impl ResultAnswer {
    /// `errMsg` when `RESULT` is `FAIL`.
    fn check(self) -> Result<(), BlockAnswerError> {
        if self.result == FAIL {
            return Err(BlockAnswerError::Failed(self.err_msg));
        }
        Ok(())
    }
}

/// `gluster-block create … --json`.
pub fn block_create(output: &str) -> Result<BlockVolumeCreated, BlockAnswerError> {
    let answer: CreateAnswer = read("create", output)?;
    answer.outcome.check()?;
    Ok(BlockVolumeCreated {
        iqn: answer.iqn,
        username: answer.username,
        password: answer.password,
        portals: answer.portals,
    })
}

/// `gluster-block delete` or `modify … --json`: `Ok` unless it says `FAIL`.
pub fn block_result(what: &'static str, output: &str) -> Result<(), BlockAnswerError> {
    read::<ResultAnswer>(what, output)?.check()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListAnswer {
    blocks: Vec<String>,
    #[serde(flatten)]
    outcome: ResultAnswer,
}

/// `gluster-block list <hosting volume> --json`: the block volumes' names.
pub fn block_list(output: &str) -> Result<Vec<String>, BlockAnswerError> {
    let answer: ListAnswer = read("list", output)?;
    answer.outcome.check()?;
    Ok(answer.blocks)
}

/// `gluster-block info … --json`.
pub fn block_info(output: &str) -> Result<BlockVolumeReport, BlockAnswerError> {
    let answer: InfoAnswer = read("info", output)?;
    answer.outcome.check()?;
    let mut usable: Option<u64> = None;
    for size in answer.resize_failed_on.values() {
        let gib = size_gib(size)?;
        usable = Some(usable.map_or(gib, |u| u.min(gib)));
    }
    Ok(BlockVolumeReport {
        size_gib: size_gib(&answer.size)?,
        name: answer.name,
        hosting_volume: answer.volume,
        gbid: answer.gbid,
        ha: answer.ha,
        password: answer.password,
        exported_on: answer.exported_on,
        usable_size_gib: usable,
    })
}

impl BlockVolumeReport {
    pub fn iqn(&self) -> String {
        block_iqn(&self.gbid)
    }
}

/// Whether a failed delete's message says the block volume (or its
/// hosting volume) is not there: Heketi's rule, the only way gluster-block
/// says so.
pub fn block_absent(message: &str, hosting_volume: &str, name: &str) -> bool {
    (message.contains("doesn't exist") && message.contains(name))
        || (message.contains("does not exist") && message.contains(hosting_volume))
}

/// A size as gluster-block prints it (`"2.0 GiB"`, `"1 TiB"`) in whole
/// GiB: Heketi's reading (spaces dropped, number then unit, the fraction
/// of a GiB dropped).
pub fn size_gib(text: &str) -> Result<u64, BlockAnswerError> {
    let bad = || BlockAnswerError::Size(text.to_string());
    let compact: String = text.chars().filter(|c| *c != ' ').collect::<String>().to_uppercase();
    let split = compact.find(|c: char| c.is_alphabetic()).ok_or_else(bad)?;
    let (number, unit) = compact.split_at(split);
    let value: f64 = number.parse().map_err(|_| bad())?;
    // Negative and NaN are not sizes.
    if value.is_nan() || value < 0.0 {
        return Err(bad());
    }
    let factor: f64 = match unit {
        "G" | "GB" | "GIB" => 1.0,
        "T" | "TB" | "TIB" => 1024.0,
        "P" | "PB" | "PIB" => 1024.0 * 1024.0,
        "E" | "EB" | "EIB" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    Ok((value * factor) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_answers() {
        let names = block_list(r#"{ "blocks": [ "b1", "b2" ], "RESULT": "SUCCESS" }"#);
        assert_eq!(names.ok(), Some(vec!["b1".to_string(), "b2".to_string()]));
        let failed = block_list(r#"{ "RESULT": "FAIL", "errCode": 2, "errMsg": "Volume v does not exist" }"#);
        assert_eq!(
            failed.err().map(|e| e.to_string()).as_deref(),
            Some("Volume v does not exist")
        );
        assert!(block_list("not json").is_err());
    }

    #[test]
    fn create_answers() {
        let ok = block_create(
            r#"{ "IQN": "iqn.2016-12.org.gluster-block:5a1e", "USERNAME": "5a1e", "PASSWORD": "pw", "PORTAL(S)": [ "10.0.0.1:3260" ], "RESULT": "SUCCESS" }"#,
        )
        .unwrap();
        assert_eq!(ok.iqn, "iqn.2016-12.org.gluster-block:5a1e");
        assert_eq!((ok.username.as_str(), ok.password.as_str()), ("5a1e", "pw"));
        assert_eq!(ok.portals, ["10.0.0.1:3260"]);
        assert_eq!(
            block_create(r#"{ "RESULT": "FAIL", "errCode": 17, "errMsg": "BLOCK with name: 'b' already EXIST" }"#),
            Err(BlockAnswerError::Failed("BLOCK with name: 'b' already EXIST".into()))
        );
        assert_eq!(
            block_create("Connection refused").unwrap_err().to_string(),
            "Unparsable error during block volume create: Connection refused"
        );
    }

    #[test]
    fn info_reads_sizes_and_the_smallest_failed_resize() {
        let report = block_info(
            r#"{ "NAME": "b", "VOLUME": "vol_1", "GBID": "id-1", "SIZE": "2.0 GiB", "HA": 2, "PASSWORD": "",
                 "EXPORTED ON": [ "10.0.0.1", "10.0.0.2" ],
                 "RESIZE FAILED ON": { "10.0.0.1": "1.0 GiB", "10.0.0.2": "1.5 GiB" } }"#,
        )
        .unwrap();
        assert_eq!(report.size_gib, 2);
        assert_eq!(report.usable_size_gib, Some(1));
        assert_eq!(report.iqn(), "iqn.2016-12.org.gluster-block:id-1");
        assert_eq!(report.exported_on.len(), 2);
        let whole = block_info(r#"{ "NAME": "b", "SIZE": "1 TiB", "HA": 1, "EXPORTED ON": [] }"#).unwrap();
        assert_eq!((whole.size_gib, whole.usable_size_gib), (1024, None));
    }

    #[test]
    fn sizes_as_heketi_reads_them() {
        assert_eq!(size_gib("2.0 GiB"), Ok(2));
        assert_eq!(size_gib("3.9g"), Ok(3));
        assert_eq!(size_gib("1 P"), Ok(1024 * 1024));
        assert!(size_gib("12 MiB").is_err());
        assert!(size_gib("GiB").is_err());
        assert!(size_gib("-1 GiB").is_err());
        assert!(size_gib("12").is_err());
    }

    #[test]
    fn absent_blocks_are_named_in_the_message() {
        assert!(block_absent("block vol_1/b doesn't exist", "vol_1", "b"));
        assert!(block_absent("Volume vol_1 does not exist", "vol_1", "b"));
        // Heketi's substring rule: another block's name does not count.
        assert!(!block_absent("block vol_1/other doesn't exist", "vol_9", "lun7"));
        assert!(!block_absent("connection refused", "vol_1", "b"));
        assert_eq!(block_result("delete", r#"{"RESULT":"SUCCESS"}"#), Ok(()));
    }
}
