//! The layering rule `docs/ARCHITECTURE.md` draws, enforced: every module's
//! references to other modules of the crate (`use crate::…`, inline
//! `crate::…` paths and `super::` paths that leave their top-level module)
//! must go to a module its layer may use. A test reads every file under
//! `src/`, so the map cannot drift from the code.

/// Each module (the longest matching prefix applies) and the modules it
/// may use, besides itself. The composition roots (`server`, `serve`,
/// `tls`, `main`, `lib`) may use anything and are not listed.
pub const RULES: &[(&str, &[&str])] = &[
    // Leaves.
    ("ids", &[]),
    ("clock", &[]),
    ("logging", &[]),
    ("memory", &[]),
    ("config", &[]),
    // The store knows records only.
    ("store", &["ids", "config::store"]),
    // Pure placement over record types.
    ("placement", &["store::records"]),
    // Nodes: no store. The Kubernetes transport uses the cluster client.
    ("executor", &["config", "kubernetes", "memory"]),
    ("kubernetes::backup_secret", &["kubernetes", "store"]),
    ("kubernetes", &["config"]),
    // Heketi's shapes, made from records and views; no operations.
    ("wire", &["store::records", "store::views", "ids"]),
    // Operations: the store, the nodes, placement, Heketi's export shapes.
    (
        "ops",
        &["store", "executor", "placement", "wire", "config", "ids", "clock"],
    ),
    // HTTP: reaches the store and the nodes only through `ops`.
    (
        "api",
        &[
            "ops",
            "wire",
            "config",
            "ids",
            "clock",
            "logging",
            "memory",
            "serve",
            "store::records",
            "store::views",
        ],
    ),
    // Any client of the API: the protocol only.
    ("client", &["wire", "clock"]),
    // The CLI: the client, the wire shapes, and the offline store tools.
    ("cli", &["client", "dbtool", "wire", "store::records", "ids", "clock"]),
    // Offline store tools.
    (
        "dbtool",
        &["store", "ops", "wire", "config::store", "config::ProcessEnv"],
    ),
    // The CSI driver: a client of the API, like the CLI.
    ("csi", &["client", "wire", "clock", "ids"]),
];

const ROOTS: &[&str] = &["server", "serve", "tls", "main", "lib", "layering"];

/// The module path of a file under `src/`: `ops/volumes/mod.rs` is
/// `ops::volumes`, `ops/engine.rs` is `ops::engine`.
pub fn module_of(relative: &str) -> Vec<String> {
    let trimmed = relative.trim_end_matches(".rs");
    let mut parts: Vec<String> = trimmed.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The crate-level paths a file's code refers to (comments left out), each
/// as its segments: `crate::ops::volumes::X` gives `[ops, volumes, X]`,
/// and `super::super::wire` in `ops::volumes::create` gives `[ops, wire]`.
pub fn references(module: &[String], source: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // Inline modules (`mod tests {`) nest: `super` inside one is the file's
    // own module. Each entry is a name and the brace depth it opened at.
    let mut inline: Vec<(String, i64)> = Vec::new();
    let mut depth: i64 = 0;
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut here: Vec<String> = module.to_vec();
        here.extend(inline.iter().map(|(name, _)| name.clone()));
        for (start, _) in code.match_indices("crate::") {
            // A preceding identifier character means another word (`my_crate::`).
            if code[..start]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            out.push(segments(&code[start + "crate::".len()..]));
        }
        for (start, _) in code.match_indices("super::") {
            if code[..start]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            {
                continue;
            }
            let mut rest = &code[start..];
            let mut base = here.clone();
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            base.extend(segments(rest));
            out.push(base);
        }
        let trimmed = code.trim_start();
        let declared = trimmed
            .strip_prefix("pub ")
            .unwrap_or(trimmed)
            .strip_prefix("mod ")
            .and_then(|r| r.trim_end().strip_suffix('{'))
            .map(|name| name.trim().to_string());
        if let Some(name) = declared {
            inline.push((name, depth));
        }
        depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
        while inline.last().is_some_and(|(_, opened)| depth <= *opened) {
            inline.pop();
        }
    }
    out
}

/// The leading path segments of `text` (identifiers joined by `::`).
fn segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        out.push(rest[..end].to_string());
        match rest[end..].strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    out
}

fn starts_with(path: &[String], prefix: &str) -> bool {
    let prefix: Vec<&str> = prefix.split("::").collect();
    path.len() >= prefix.len() && path.iter().zip(&prefix).all(|(a, b)| a == b)
}

/// What `module` may use, or `None` for a composition root.
fn allowed_for(module: &[String]) -> Option<(&'static str, &'static [&'static str])> {
    if module.first().is_some_and(|m| ROOTS.contains(&m.as_str())) {
        return None;
    }
    RULES
        .iter()
        .filter(|(m, _)| starts_with(module, m))
        .max_by_key(|(m, _)| m.split("::").count())
        .copied()
}

/// The references of one file that break the rules, as readable lines.
pub fn violations(relative: &str, source: &str) -> Vec<String> {
    let module = module_of(relative);
    let Some((own, allowed)) = allowed_for(&module) else {
        return Vec::new();
    };
    let own_top = own.split("::").next().unwrap_or(own);
    let mut out = Vec::new();
    for path in references(&module, source) {
        let Some(top) = path.first() else { continue };
        // Inside its own top-level module, or an external crate via `crate::`
        // never happens; a path to the crate root's items is a root item.
        if top == own_top || starts_with(&path, own) {
            continue;
        }
        if !allowed.iter().any(|a| starts_with(&path, a)) {
            out.push(format!(
                "{relative}: `{}` may not use `{}` (allowed: {})",
                module.join("::"),
                path.join("::"),
                if allowed.is_empty() {
                    "nothing".to_string()
                } else {
                    allowed.join(", ")
                }
            ));
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(std::fs::DirEntry::path);
        for entry in entries {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.push((relative, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }

    #[test]
    fn every_module_keeps_to_its_layer() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&root, &root, &mut files);
        assert!(files.len() > 50, "found only {} source files", files.len());
        let broken: Vec<String> = files.iter().flat_map(|(p, s)| violations(p, s)).collect();
        assert!(
            broken.is_empty(),
            "imports against the layering:\n{}",
            broken.join("\n")
        );
    }

    #[test]
    fn a_wrong_import_is_caught() {
        let found = violations("wire/volumes.rs", "use crate::ops::Engine;\n");
        assert_eq!(
            found,
            vec!["wire/volumes.rs: `wire::volumes` may not use `ops::Engine` (allowed: store::records, store::views, ids)"]
        );
        assert_eq!(
            violations("api/volumes.rs", "    let s = crate::store::Store::open(p);\n").len(),
            1
        );
        assert_eq!(violations("cli/node.rs", "use crate::api::auth::qsh;\n").len(), 1);
        // `super::` leaving its top-level module counts too.
        assert_eq!(
            violations("placement/ring.rs", "use super::super::ops::Engine;\n").len(),
            1
        );
    }

    #[test]
    fn allowed_and_internal_imports_pass() {
        assert!(violations("api/volumes.rs", "use crate::ops::volumes::VolumeCreate;\n").is_empty());
        assert!(violations(
            "ops/volumes/create.rs",
            "use super::plan::bad;\nuse crate::ops::Engine;\n"
        )
        .is_empty());
        assert!(violations("kubernetes/backup_secret.rs", "use crate::store::Store;\n").is_empty());
        assert!(violations("server.rs", "use crate::executor::mock::MockExecutor;\n").is_empty());
        // Comments do not count.
        assert!(violations("wire/mod.rs", "// see crate::ops::Engine\n").is_empty());
    }

    #[test]
    fn super_in_an_inline_module_is_the_file_module() {
        let source = "mod tests {\n    use super::super::ops::Engine;\n    use super::helper;\n}\nuse super::x;\n";
        assert_eq!(
            references(&module_of("wire/volumes.rs"), source),
            vec![
                vec!["wire".to_string(), "ops".to_string(), "Engine".to_string()],
                vec!["wire".to_string(), "volumes".to_string(), "helper".to_string()],
                vec!["wire".to_string(), "x".to_string()],
            ]
        );
    }

    #[test]
    fn module_paths_follow_the_files() {
        assert_eq!(module_of("ops/volumes/mod.rs"), vec!["ops", "volumes"]);
        assert_eq!(module_of("ops/engine.rs"), vec!["ops", "engine"]);
        assert_eq!(
            references(&module_of("ops/volumes/create.rs"), "use super::super::wire::qsh;"),
            vec![vec!["ops".to_string(), "wire".to_string(), "qsh".to_string()]]
        );
    }
}
