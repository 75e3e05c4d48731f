//! The one-shot commands (`check`, `eval`, `test`, `notify-test`) as library functions that
//! write to the given output and return the exit code, so tests can run them
//! without a process.

pub mod check;
pub mod eval;
pub mod notify_test;
pub mod test;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: invalid input, failing tests.
pub const EXIT_FAIL: i32 = 1;

/// The config `eval -c` and `test -c` use (its `sites` and `display`),
/// read without needing its `${VAR}`s set, with the sites `rules` name in
/// `match` checked against it; the default (no sites, UTC) without `-c`.
pub fn offline_config(
    path: Option<&std::path::Path>,
    rules: &crate::rules::RuleSet,
) -> Result<OfflineConfig, crate::yaml::Diagnostics> {
    use crate::config::{Config, EnvMode};
    let Some(path) = path else {
        return Ok(OfflineConfig {
            sites: crate::config::Sites::default(),
            time_zone: jiff::tz::TimeZone::UTC,
        });
    };
    let config = Config::load(path, EnvMode::Lenient)?;
    config.check_sites(rules)?;
    Ok(OfflineConfig {
        sites: config.sites,
        time_zone: config.display.time_zone,
    })
}

/// What the offline commands take from a config.
#[derive(Debug)]
pub struct OfflineConfig {
    pub sites: crate::config::Sites,
    pub time_zone: jiff::tz::TimeZone,
}
