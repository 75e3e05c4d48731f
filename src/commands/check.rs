//! `qoswatch check`: validate rule files with the service's own loader.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{EXIT_FAIL, EXIT_OK};
use crate::config::{Config, EnvMode};
use crate::rules::load_paths;

/// Checks the config (if given, without needing its `${VAR}`s set) and the
/// rule `paths` (default: the config's rules); prints each problem as
/// `PATH:LINE:COL: error: MESSAGE`.
pub fn run(config: Option<&Path>, paths: &[PathBuf], out: &mut dyn Write) -> std::io::Result<i32> {
    let mut paths = paths.to_vec();
    let mut loaded = None;
    if let Some(config) = config {
        match Config::load(config, EnvMode::Lenient) {
            Ok(c) => {
                if paths.is_empty() {
                    paths = c.rules.clone();
                }
                loaded = Some(c);
            }
            Err(diags) => {
                for d in &diags.0 {
                    writeln!(out, "{d}")?;
                }
                return Ok(EXIT_FAIL);
            }
        }
    }
    match load_paths(&paths) {
        Ok(set) => {
            // Route keys naming rule labels need the rules: those checked
            // here (the config's, or the paths given).
            if let Some(Err(diags)) = loaded.map(|c| c.check_labels(&set)) {
                for d in &diags.0 {
                    writeln!(out, "{d}")?;
                }
                return Ok(EXIT_FAIL);
            }
            let plural = |n: usize| if n == 1 { "" } else { "s" };
            let (rules, incidents) = (set.rules.len(), set.incidents.len());
            if incidents == 0 {
                writeln!(out, "ok: {rules} rule{} valid", plural(rules))?;
            } else {
                writeln!(
                    out,
                    "ok: {rules} rule{} and {incidents} incident{} valid",
                    plural(rules),
                    plural(incidents)
                )?;
            }
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
