//! The server's layers depend one way: domain, then the storage engines
//! and the online users' group index, then the rules and the push hub,
//! then HTTP and WebSocket, then the wiring. This test reads every source file and fails on an import that
//! points up (or sideways where it must not), naming the file and the line.

use std::path::{Path, PathBuf};

/// Each layer (the first component of a path under `src/`) and the layers
/// it may use. Everything may use external crates.
const LAYERS: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("preview", &[]),
    ("store", &["domain"]),
    ("online", &["domain"]),
    ("push", &["domain", "preview", "online"]),
    ("service", &["domain", "push", "preview", "online"]),
    ("config", &["domain", "store"]),
    ("http", &["domain", "service", "push", "config"]),
    ("demo", &["domain", "service"]),
    ("app", &["domain", "store", "push", "service", "http", "config"]),
    ("lib", &["domain", "store", "online", "push", "service", "http", "config", "app", "demo", "preview"]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The layer a source file belongs to.
fn layer_of(src: &Path, file: &Path) -> String {
    let first = file.strip_prefix(src).unwrap().components().next().unwrap();
    first.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// The layers a line of code names as `crate::LAYER` (comments dropped).
fn named_layers(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or_default();
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        out.push(name);
    }
    out
}

#[test]
fn dependencies_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "found the sources");
    let mut violations = Vec::new();
    for file in &files {
        let layer = layer_of(&src, file);
        let allowed = LAYERS
            .iter()
            .find(|(name, _)| *name == layer)
            .unwrap_or_else(|| panic!("{} is in no layer: add `{layer}` to LAYERS", file.display()))
            .1;
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            if line.contains("super::super::") {
                violations.push(format!("{}:{}: super::super:: (name the layer instead)", file.display(), number + 1));
            }
            for used in named_layers(line) {
                if used != layer && !allowed.contains(&used.as_str()) {
                    violations.push(format!("{}:{}: {layer} uses crate::{used}", file.display(), number + 1));
                }
            }
        }
    }
    assert!(violations.is_empty(), "imports against the layering:\n{}", violations.join("\n"));
}

#[test]
fn the_scanner_sees_imports() {
    assert_eq!(named_layers("use crate::service::Service; // crate::http"), ["service"]);
    assert_eq!(named_layers("let x = crate::domain::clock::now_ms() + crate::push::X;"), ["domain", "push"]);
    assert!(named_layers("//! see crate::http").is_empty());
}
