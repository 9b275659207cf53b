//! Asks the linker to place the functions the server runs together, at the
//! start of the `brickyard` binary's text (`code-order.txt`, made by
//! `scripts/code-order`). The kernel maps a binary's code in 64 KiB blocks
//! around each page that runs; with the server's code spread among code it
//! never runs, some 11 MiB of text stayed resident, against about 4 MiB
//! placed together. The order changes where code lies, never what it does.
//!
//! Only LLD and mold read a symbol ordering file; GNU ld refuses it. The
//! x86_64 Linux toolchains that rustup ships link with their own LLD from
//! Rust 1.90 (a rustc built without it, as a distribution's may be, links
//! through `cc` with GNU ld), so the option is given only where the
//! toolchain is 1.90 or later, carries its LLD (`gcc-ld/ld.lld` in its
//! sysroot), and no other linker is chosen. `BRICKYARD_CODE_ORDER=0`
//! leaves it out. Names the linker does not find are skipped silently.

use std::path::Path;
use std::process::Command;

const ORDER: &str = "src/code-order.txt";

/// What `rustc <args>` prints, if it runs.
fn rustc(args: &[&str]) -> Option<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).args(args).output().ok()?;
    String::from_utf8(out.stdout).ok()
}

/// The minor version of the `rustc` building this, if it says.
fn rustc_minor() -> Option<u32> {
    let text = rustc(&["--version"])?;
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    (major == 1).then_some(minor)
}

/// Whether the toolchain carries its own LLD for this target.
fn ships_lld(target: &str) -> bool {
    let Some(sysroot) = rustc(&["--print", "sysroot"]) else {
        return false;
    };
    Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(target)
        .join("bin/gcc-ld/ld.lld")
        .is_file()
}

/// Whether the build links with the toolchain's own LLD.
fn default_lld() -> bool {
    let target = std::env::var("TARGET").unwrap_or_default();
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    // A linker from rustflags, `-fuse-ld`, cargo's `linker` setting
    // (`RUSTC_LINKER`) or its environment variable.
    let chosen_elsewhere = flags.contains("linker")
        || flags.contains("link-self-contained")
        || flags.contains("fuse-ld")
        || std::env::var_os("RUSTC_LINKER").is_some()
        || std::env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some();
    target == "x86_64-unknown-linux-gnu"
        && !chosen_elsewhere
        && rustc_minor().is_some_and(|m| m >= 90)
        && ships_lld(&target)
}

/// Gives the linker the order, where it reads one.
pub fn emit() {
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-env-changed=BRICKYARD_CODE_ORDER");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    let wanted = std::env::var("BRICKYARD_CODE_ORDER").map_or(true, |v| v != "0");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let order = Path::new(&manifest).join(ORDER);
    if wanted && order.is_file() && default_lld() {
        // -Xlinker passes one argument whole (-Wl, would split a path at commas).
        for arg in [
            format!("--symbol-ordering-file={}", order.display()),
            "--no-warn-symbol-ordering".to_string(),
        ] {
            println!("cargo:rustc-link-arg-bin=brickyard=-Xlinker");
            println!("cargo:rustc-link-arg-bin=brickyard={arg}");
        }
    }
}
