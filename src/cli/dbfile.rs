//! Offline store tools, run on a stopped server's store as Heketi's
//! `heketi db export --dbfile=STORE --jsonfile=OUT|-` is.

use std::io::Write;
use std::path::PathBuf;

use super::CliError;
use crate::store::Store;
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

/// Writes the store as Heketi's export JSON; refuses to overwrite a file.
pub fn export(args: &DbFileArgs) -> Result<String, CliError> {
    if !args.dbfile.exists() {
        return Err(CliError(format!("store {} does not exist", args.dbfile.display())));
    }
    let store = Store::open(&args.dbfile).map_err(|e| CliError(format!("{e} (is the server still running?)")))?;
    let db = crate::ops::dump::export(&store).map_err(|e| CliError(e.to_string()))?;
    let text = to_heketi_json(&db).map_err(|e| CliError(e.to_string()))?;
    if args.jsonfile == "-" {
        return Ok(text);
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&args.jsonfile)
        .map_err(|e| CliError(format!("unable to create {}: {e}", args.jsonfile)))?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| CliError(format!("unable to write {}: {e}", args.jsonfile)))?;
    Ok(format!("DB exported to {}\n", args.jsonfile))
}
