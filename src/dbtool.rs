//! Offline store tools, run on a stopped server's store as Heketi's
//! `heketi db export --dbfile=STORE --jsonfile=OUT|-` is: Heketi's export
//! document out of a store, and a Heketi export or a Brickyard backup into
//! one. The CLI's `db export` and `db import` commands call these; they
//! are the one place the CLI binary reaches a store.

use std::io::Write;
use std::path::PathBuf;

/// What a failed tool run prints after `Error: `.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ToolError(pub String);
use crate::store::{Location, Store};
use crate::wire::heketi_db::to_heketi_json;

#[derive(clap::Args, Debug)]
pub struct DbFileArgs {
    /// The store directory (the server must be stopped).
    #[arg(long)]
    pub dbfile: PathBuf,
    /// The JSON file; `-` is standard output.
    #[arg(long)]
    pub jsonfile: String,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    pub files: DbFileArgs,
    /// Replace the contents of a store that is not empty.
    #[arg(long)]
    pub force: bool,
}

/// The store `--dbfile` names: a sled directory or an `etcd://` URL (with
/// the `BRICKYARD_ETCD_*` settings from the environment).
fn locate(dbfile: &std::path::Path) -> Result<Location, ToolError> {
    let none = crate::config::store::StoreFile::default();
    crate::config::store::resolve(dbfile, &none, &crate::config::ProcessEnv).map_err(|e| ToolError(e.0))
}

fn open_location(location: &Location) -> Result<Store, ToolError> {
    let hint = match location {
        Location::Sled(_) => " (is the server still running?)",
        Location::Etcd(_) => "",
    };
    Store::connect(location, crate::store::DEFAULT_CACHE_BYTES).map_err(|e| ToolError(format!("{e}{hint}")))
}

fn open_store(dbfile: &std::path::Path) -> Result<Store, ToolError> {
    open_location(&locate(dbfile)?)
}

/// Reads Heketi's export JSON into a store and reports what it did.
pub fn import(args: &ImportArgs) -> Result<String, ToolError> {
    let files = &args.files;
    let text = if files.jsonfile == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| ToolError(format!("unable to read stdin: {e}")))?
    } else {
        std::fs::read_to_string(&files.jsonfile)
            .map_err(|e| ToolError(format!("unable to read {}: {e}", files.jsonfile)))?
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ToolError(format!("{} is not JSON: {e}", files.jsonfile)))?;
    let open = || open_store(&files.dbfile);
    if value.get("format").and_then(|f| f.as_str()) == Some(crate::store::backup::FORMAT) {
        return restore(args, value, open()?);
    }
    let db: crate::wire::heketi_db::HeketiDb = serde_json::from_value(value)
        .map_err(|e| ToolError(format!("{} is not a Heketi database export: {e}", files.jsonfile)))?;
    let report = crate::ops::import::import(&open()?, &db, args.force).map_err(|e| ToolError(e.to_string()))?;
    let mut out = String::new();
    for (what, count) in &report.imported {
        out.push_str(&format!("Imported {count} {what}\n"));
    }
    for line in &report.fixed {
        out.push_str(&format!("Fixed: {line}\n"));
    }
    for line in &report.refused {
        out.push_str(&format!("Left out: {line}\n"));
    }
    if let Some(check) = &report.check {
        out.push_str(&format!(
            "Consistency check: {} inconsistencies\n",
            check.totalinconsistencies
        ));
        for bucket in [
            &check.clusters,
            &check.nodes,
            &check.devices,
            &check.volumes,
            &check.bricks,
            &check.blockvolumes,
        ] {
            for line in &bucket.inconsistencies {
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    out.push_str(&format!("DB imported to {}\n", files.dbfile.display()));
    Ok(out)
}

/// Restores a `GET /backup/db` document into an empty store.
fn restore(args: &ImportArgs, value: serde_json::Value, store: Store) -> Result<String, ToolError> {
    let backup: crate::store::backup::Backup =
        serde_json::from_value(value).map_err(|e| ToolError(format!("unreadable Brickyard backup: {e}")))?;
    let occupied = store.occupied();
    if occupied > 0 && !args.force {
        return Err(ToolError(format!(
            "the store {} is not empty; use --force to replace its contents",
            args.files.dbfile.display()
        )));
    }
    store.restore(&backup).map_err(|e| ToolError(e.to_string()))?;
    let check = crate::ops::check::check_store(&store).map_err(|e| ToolError(e.to_string()))?;
    Ok(format!(
        "Restored a Brickyard backup of schema version {}\nConsistency check: {} inconsistencies\nDB imported to {}\n",
        backup.schema_version,
        check.totalinconsistencies,
        args.files.dbfile.display()
    ))
}

#[derive(clap::Args, Debug)]
pub struct CopyArgs {
    /// The store to copy: a directory or an `etcd://` URL (stop its servers first).
    #[arg(long)]
    pub from: PathBuf,
    /// The store to write: a directory or an `etcd://` URL.
    #[arg(long)]
    pub to: PathBuf,
    /// Replace the contents of a target that is not empty.
    #[arg(long)]
    pub force: bool,
}

/// Copies every entry of one store into another (sled to etcd and back),
/// then reads the target back: the same entries, and the consistency
/// check's verdict on it.
pub fn copy(args: &CopyArgs) -> Result<String, ToolError> {
    let (from_at, to_at) = (locate(&args.from)?, locate(&args.to)?);
    if from_at == to_at {
        return Err(ToolError(format!("{from_at} is both the source and the target")));
    }
    if matches!(&from_at, Location::Sled(path) if !path.exists()) {
        return Err(ToolError(format!("store {} does not exist", args.from.display())));
    }
    let from = open_location(&from_at)?;
    let backup = from.backup().map_err(|e| ToolError(e.to_string()))?;
    let to = open_location(&to_at)?;
    let occupied = to.occupied();
    if occupied > 0 && !args.force {
        return Err(ToolError(format!(
            "the store {to_at} is not empty ({occupied} clusters, nodes and volumes); use --force to replace its contents"
        )));
    }
    to.restore(&backup).map_err(|e| ToolError(e.to_string()))?;
    let written = to.backup().map_err(|e| ToolError(e.to_string()))?;
    if written.trees != backup.trees {
        return Err(ToolError(format!(
            "the copy in {to_at} does not read back as the source: copy it again with --force"
        )));
    }
    let check = crate::ops::check::check_store(&to).map_err(|e| ToolError(e.to_string()))?;
    let entries: usize = backup.trees.values().map(Vec::len).sum();
    Ok(format!(
        "Copied {entries} entries (schema version {}) from {from_at} to {to_at}
Consistency check: {} inconsistencies
",
        backup.schema_version, check.totalinconsistencies
    ))
}

/// Writes the store as Heketi's export JSON; refuses to overwrite a file.
pub fn export(args: &DbFileArgs) -> Result<String, ToolError> {
    let location = locate(&args.dbfile)?;
    if matches!(&location, Location::Sled(path) if !path.exists()) {
        return Err(ToolError(format!("store {} does not exist", args.dbfile.display())));
    }
    let store = open_location(&location)?;
    let db = crate::ops::dump::export(&store).map_err(|e| ToolError(e.to_string()))?;
    let text = to_heketi_json(&db).map_err(|e| ToolError(e.to_string()))?;
    if args.jsonfile == "-" {
        return Ok(text);
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&args.jsonfile)
        .map_err(|e| ToolError(format!("unable to create {}: {e}", args.jsonfile)))?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| ToolError(format!("unable to write {}: {e}", args.jsonfile)))?;
    Ok(format!("DB exported to {}\n", args.jsonfile))
}
