//! Files in temporary directories: any file ([`write_file`]) and a service
//! config with its rule files ([`ServiceConfig`]).

use std::path::{Path, PathBuf};

use super::zoom::MockZoom;

/// Writes `text` at `dir/rel`, creating folders; returns the path.
pub fn write_file(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// A qoswatch.yaml for a [`MockZoom`], written with its rule files by
/// [`ServiceConfig::write`]:
///
/// ```yaml
/// zoom: { ...the mock's URLs and credentials... }
/// poll:
///   interval: 1s
///   discover: false                 # when targets are given
///   discover_interval: 1m           # when given
///   targets: [{ meeting: "42" }]
/// rules: [rules.yaml]               # or [rules/] for rules/latency.yaml
/// notifiers:
///   oncall: { type: slack, url: "..." }
/// routes:
///   - match: { topic: "~(?i)exec" }   # route_matching
///     notify: [netops]
///   - notify: [out]                   # route_to
///     mute_time_intervals: [quiet]    # route (any route entry)
/// time_intervals: [...]               # section (any top-level YAML)
/// state_dir: state
/// http:
///   listen: 127.0.0.1:0
///   admin_token: ${QOSWATCH_ADMIN_TOKEN}   # admin_token
/// ```
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    zoom: String,
    interval: String,
    discover_interval: Option<String>,
    targets: Vec<String>,
    rule_files: Vec<(String, String)>,
    notifiers: Vec<(String, String)>,
    routes: Vec<String>,
    sections: Vec<String>,
    state_dir: String,
    admin_token: Option<String>,
    /// Lines added under `zoom:` (`webhook:`, `websocket:`).
    zoom_extra: String,
    /// Lines added under `poll:`.
    poll_extra: String,
}

impl ServiceConfig {
    /// Polls `zoom` every second; the client secret is written literally.
    pub fn new(zoom: &MockZoom) -> ServiceConfig {
        ServiceConfig::with_zoom_section(zoom.yaml_section(&zoom.client_secret))
    }

    /// As [`ServiceConfig::new`], with `client_secret: ${VAR}`: the test sets
    /// `VAR` to the mock's secret in the service's environment.
    pub fn secret_from_env(zoom: &MockZoom, var: &str) -> ServiceConfig {
        ServiceConfig::with_zoom_section(zoom.yaml_section(&format!("${{{var}}}")))
    }

    /// Any `zoom:` section.
    pub fn with_zoom_section(zoom: String) -> ServiceConfig {
        ServiceConfig {
            zoom,
            interval: "1s".into(),
            discover_interval: None,
            targets: Vec::new(),
            rule_files: Vec::new(),
            notifiers: Vec::new(),
            routes: Vec::new(),
            sections: Vec::new(),
            state_dir: "state".into(),
            admin_token: None,
            zoom_extra: String::new(),
            poll_extra: String::new(),
        }
    }

    /// `poll.interval` (default `1s`).
    pub fn interval(mut self, interval: &str) -> Self {
        self.interval = interval.into();
        self
    }

    pub fn discover_interval(mut self, interval: &str) -> Self {
        self.discover_interval = Some(interval.into());
        self
    }

    /// Polls these meetings and turns discovery off.
    pub fn targets(mut self, meetings: &[&str]) -> Self {
        self.targets = meetings.iter().map(|m| m.to_string()).collect();
        self
    }

    /// A rule file at `rel` (`rules.yaml`, `rules/latency.yaml`). `rules:`
    /// lists each top-level file, and each top-level folder once (`rules/`).
    pub fn rule_file(mut self, rel: &str, text: &str) -> Self {
        self.rule_files.push((rel.into(), text.into()));
        self
    }

    /// `rules.yaml` with the one rule most tests need: `latency-high`,
    /// audio input latency over 150 ms.
    pub fn latency_rule(self) -> Self {
        self.rule_file(
            "rules.yaml",
            "rules:\n  - name: latency-high\n    when: audio_input.latency > 150ms\n",
        )
    }

    /// A Slack notifier posting to `url`.
    pub fn slack(self, name: &str, url: &str) -> Self {
        self.notifier(name, &format!("{{ type: slack, url: \"{url}\" }}"))
    }

    /// A Teams (Adaptive Card) notifier posting to `url`.
    pub fn teams(self, name: &str, url: &str) -> Self {
        self.notifier(name, &format!("{{ type: teams, url: \"{url}\" }}"))
    }

    /// A notifier as a flow mapping: `notifier("out", "{ type: console }")`.
    pub fn notifier(mut self, name: &str, yaml: &str) -> Self {
        self.notifiers.push((name.into(), yaml.into()));
        self
    }

    /// A route sending everything to `notify`.
    pub fn route_to(mut self, notify: &[&str]) -> Self {
        self.routes
            .push(format!("  - notify: [{}]\n", notify.join(", ")));
        self
    }

    /// A route sending what `matchers` (a flow mapping, `{ topic: "~x" }`)
    /// match to `notify`.
    pub fn route_matching(mut self, matchers: &str, notify: &[&str]) -> Self {
        self.routes.push(format!(
            "  - match: {matchers}\n    notify: [{}]\n",
            notify.join(", ")
        ));
        self
    }

    /// A route entry as written under `routes:`, its first line starting
    /// `  - ` (`"  - notify: [a]\n    mute_time_intervals: [quiet]\n"`).
    pub fn route(mut self, yaml: &str) -> Self {
        self.routes.push(yaml.into());
        self
    }

    /// Top-level YAML written as it is (`"time_intervals:\n  - ..."`), for
    /// sections the builder has no method for.
    pub fn section(mut self, yaml: &str) -> Self {
        self.sections.push(yaml.into());
        self
    }

    /// `http.admin_token`, as written (`${QOSWATCH_ADMIN_TOKEN}` or a literal).
    pub fn admin_token(mut self, token: &str) -> Self {
        self.admin_token = Some(token.into());
        self
    }

    /// `zoom.webhook` on a free loopback port, path `/zoom/events`, with
    /// `events::SECRET_TOKEN`.
    pub fn webhook(mut self) -> Self {
        self.zoom_extra.push_str(&format!(
            "  webhook:\n    listen: 127.0.0.1:0\n    path: /zoom/events\n    secret_token: {}\n",
            super::events::SECRET_TOKEN
        ));
        self
    }

    /// `zoom.websocket` at `url` (`ws://127.0.0.1:PORT/ws`).
    pub fn websocket(mut self, url: &str, subscription_id: &str) -> Self {
        self.zoom_extra.push_str(&format!(
            "  websocket:\n    subscription_id: {subscription_id}\n    url: {url}\n"
        ));
        self
    }

    /// Neither discovery nor targets: meetings come from events only.
    pub fn events_only(mut self) -> Self {
        self.poll_extra.push_str("  discover: false\n");
        self
    }

    /// `poll.quiet_every`.
    pub fn quiet_every(mut self, every: &str) -> Self {
        self.poll_extra
            .push_str(&format!("  quiet_every: {every}\n"));
        self
    }

    pub fn state_dir(mut self, dir: &str) -> Self {
        self.state_dir = dir.into();
        self
    }

    /// The entries of `rules:`.
    fn rule_entries(&self) -> Vec<String> {
        let mut entries: Vec<String> = Vec::new();
        for (rel, _) in &self.rule_files {
            let entry = match rel.split_once('/') {
                Some((folder, _)) => format!("{folder}/"),
                None => rel.clone(),
            };
            if !entries.contains(&entry) {
                entries.push(entry);
            }
        }
        entries
    }

    /// The qoswatch.yaml text.
    pub fn yaml(&self) -> String {
        let mut y = self.zoom.clone();
        y.push_str(&self.zoom_extra);
        y.push_str(&format!("poll:\n  interval: {}\n", self.interval));
        y.push_str(&self.poll_extra);
        if !self.targets.is_empty() {
            y.push_str("  discover: false\n");
        }
        if let Some(d) = &self.discover_interval {
            y.push_str(&format!("  discover_interval: {d}\n"));
        }
        if !self.targets.is_empty() {
            let targets: Vec<String> = self
                .targets
                .iter()
                .map(|m| format!("{{ meeting: \"{m}\" }}"))
                .collect();
            y.push_str(&format!("  targets: [{}]\n", targets.join(", ")));
        }
        y.push_str(&format!("rules: [{}]\n", self.rule_entries().join(", ")));
        if !self.notifiers.is_empty() {
            y.push_str("notifiers:\n");
            for (name, yaml) in &self.notifiers {
                y.push_str(&format!("  {name}: {yaml}\n"));
            }
        }
        if !self.routes.is_empty() {
            y.push_str("routes:\n");
            for route in &self.routes {
                y.push_str(route);
            }
        }
        for section in &self.sections {
            y.push_str(section);
        }
        y.push_str(&format!(
            "state_dir: {}\nhttp:\n  listen: 127.0.0.1:0\n",
            self.state_dir
        ));
        if let Some(token) = &self.admin_token {
            y.push_str(&format!("  admin_token: {token}\n"));
        }
        y
    }

    /// Writes the rule files and `qoswatch.yaml` into `dir`; returns the
    /// config's path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        for (rel, text) in &self.rule_files {
            write_file(dir, rel, text);
        }
        write_file(dir, "qoswatch.yaml", &self.yaml())
    }
}
