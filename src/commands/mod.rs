//! The one-shot commands (`check`, `eval`, `test`, `notify-test`, and
//! `alerts` / `silence` against a running service) as library functions that
//! write to the given output and return the exit code, so tests can run them
//! without a process.

pub mod admin;
pub mod batch;
pub mod check;
pub mod eval;
pub mod notify_test;
pub mod test;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: invalid input, failing tests.
pub const EXIT_FAIL: i32 = 1;

/// What `eval -c` and `test -c` use of a config (its `sites` and
/// `display`; nothing else of it is judged, and its `${VAR}`s need not be
/// set), with the sites `rules` name in `match` checked against it; no
/// sites and UTC without `-c`.
pub fn offline_config(
    path: Option<&std::path::Path>,
    rules: &crate::rules::RuleSet,
) -> Result<OfflineConfig, crate::yaml::Diagnostics> {
    let Some(path) = path else {
        return Ok(OfflineConfig {
            sites: crate::config::Sites::default(),
            time_zone: jiff::tz::TimeZone::UTC,
        });
    };
    let (sites, display) = crate::config::load_sites_and_display(path)?;
    sites.check_rules(rules)?;
    Ok(OfflineConfig {
        sites,
        time_zone: display.time_zone,
    })
}

/// What the offline commands take from a config.
#[derive(Debug)]
pub struct OfflineConfig {
    pub sites: crate::config::Sites,
    pub time_zone: jiff::tz::TimeZone,
}
