//! `rust-version` in Cargo.toml must be true: no dependency in the locked
//! graph may need a newer compiler than the one the package states.

use std::process::Command;

/// `1.89` as `[1, 89, 0]`, so it compares equal to `1.89.0`.
fn version(v: &str) -> [u32; 3] {
    let mut out = [0; 3];
    for (slot, part) in out.iter_mut().zip(v.split('.')) {
        *slot = part.parse().unwrap_or(0);
    }
    out
}

/// The host's target triple, from `rustc -vV`.
fn host() -> String {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

#[test]
fn the_stated_rust_version_covers_every_dependency() {
    // Only the host's graph: offline, a fresh machine has downloaded no
    // other platform's packages (android_system_properties, say), and the
    // stated version is about building here.
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stated = version(env!("CARGO_PKG_RUST_VERSION"));
    let mut newer = Vec::new();
    for p in meta["packages"].as_array().unwrap() {
        if let Some(v) = p["rust_version"].as_str()
            && version(v) > stated
        {
            newer.push(format!("{} {} needs {v}", p["name"], p["version"]));
        }
    }
    assert!(
        newer.is_empty(),
        "rust-version {} is too old: {newer:?}",
        env!("CARGO_PKG_RUST_VERSION")
    );
}
