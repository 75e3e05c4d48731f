//! `qoswatch check`: validate rule files with the service's own loader.

use std::io::Write;
use std::path::PathBuf;

use super::{EXIT_FAIL, EXIT_OK};
use crate::rules::load_paths;

/// Checks `paths`; prints each problem as `PATH:LINE:COL: error: MESSAGE`.
pub fn run(paths: &[PathBuf], out: &mut dyn Write) -> std::io::Result<i32> {
    match load_paths(paths) {
        Ok(set) => {
            writeln!(
                out,
                "ok: {} rule{} valid",
                set.rules.len(),
                if set.rules.len() == 1 { "" } else { "s" }
            )?;
            Ok(EXIT_OK)
        }
        Err(diags) => {
            for d in &diags.0 {
                writeln!(out, "{d}")?;
            }
            Ok(EXIT_FAIL)
        }
    }
}
