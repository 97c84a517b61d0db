//! The Architecture Invariant, checked: domain's normal dependency tree (for wasm and for the
//! host) has no I/O, runtime, HTTP, SQL or DOM crates.

use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "tokio",
    "sqlx",
    "reqwest",
    "hyper",
    "mio",
    "web-sys",
    "socket2",
    "axum",
    "async-std",
    "wasm-bindgen",
    "js-sys",
    "getrandom",
    "iana-time-zone",
    "libc",
];

fn dependency_names(target: Option<&str>) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "tree", "-p", "domain", "-e", "normal", "--prefix", "none", "--format", "{p}",
    ]);
    if let Some(target) = target {
        command.args(["--target", target]);
    }
    let output = command.output().expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn the_dependency_tree_has_no_io_crates() {
    for target in [Some("wasm32-unknown-unknown"), None] {
        let names = dependency_names(target);
        assert!(
            names.iter().any(|n| n == "serde"),
            "the tree was read: {names:?}"
        );
        let bad: Vec<&String> = names
            .iter()
            .filter(|n| FORBIDDEN.contains(&n.as_str()))
            .collect();
        assert!(
            bad.is_empty(),
            "I/O crates in domain's tree for {target:?}: {bad:?}"
        );
    }
}
