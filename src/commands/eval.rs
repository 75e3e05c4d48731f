//! `qoswatch eval`: Zoom QoS response bodies through the rules and the alert
//! lifecycle, all inputs merged into one sample-time order, every transition
//! printed, with the rules whose `inhibits` would hold its notification
//! (each distinct sample time is one batch, as in the service). No network.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::batch::Stepper;
use super::{EXIT_FAIL, EXIT_OK};
use crate::alert::{State, Transition};
use crate::cli::OutputFormat;
use crate::incident::IncidentTransition;
use crate::qos::{MeetingInfo, ParticipantInfo, Sample};
use crate::rules::load_paths;
use crate::zoom::api::parse_qos_response;

/// Options of `qoswatch eval`.
pub struct EvalArgs {
    pub rules: Vec<PathBuf>,
    pub meeting: Option<String>,
    pub format: OutputFormat,
    pub files: Vec<PathBuf>,
    /// `-c`: a service config whose `sites` and `display` apply.
    pub config: Option<PathBuf>,
}

/// Runs `eval`: transitions on `out`, problems on `err`.
pub fn run(
    args: &EvalArgs,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<i32> {
    let rules = match load_paths(&args.rules) {
        Ok(r) => r,
        Err(diags) => {
            writeln!(err, "{diags}")?;
            return Ok(EXIT_FAIL);
        }
    };
    let config = match super::offline_config(args.config.as_deref(), &rules) {
        Ok(c) => c,
        Err(diags) => {
            writeln!(err, "{diags}")?;
            return Ok(EXIT_FAIL);
        }
    };
    let mut inputs: Vec<PathBuf> = Vec::new();
    for f in &args.files {
        if f.is_dir() {
            // A directory stands for the `*.json` files directly inside, by name.
            match crate::source::replay::json_files(f) {
                Ok(files) => inputs.extend(files),
                Err(e) => {
                    writeln!(err, "{}: error: cannot list directory: {e}", f.display())?;
                    return Ok(EXIT_FAIL);
                }
            }
        } else {
            inputs.push(f.clone());
        }
    }
    if args.files.is_empty() {
        inputs.push(PathBuf::from("-"));
    }
    let forced = args.meeting.as_deref().map(|m| MeetingInfo {
        id: Some(Arc::from(m)),
        ..MeetingInfo::default()
    });
    let mut items: Vec<(MeetingInfo, ParticipantInfo, Sample)> = Vec::new();
    let mut failed = false;
    let mut stdin_used = false;
    for path in &inputs {
        let mut body = Vec::new();
        let name = path.display().to_string();
        let read = if name == "-" {
            if stdin_used {
                continue;
            }
            stdin_used = true;
            stdin.read_to_end(&mut body).map(|_| ())
        } else {
            std::fs::read(path).map(|b| body = b)
        };
        if let Err(e) = read {
            writeln!(err, "{name}: error: cannot read: {e}")?;
            failed = true;
            continue;
        }
        let response = match parse_qos_response(&body) {
            Ok(r) => r,
            Err(e) => {
                match &e {
                    crate::zoom::api::ParseResponseError::DecodeJson {
                        line,
                        column,
                        message,
                    } => {
                        // serde's "expected ident" alone does not say that
                        // the file is not what `eval` reads.
                        let (line, column) = ((*line).max(1), (*column).max(1));
                        writeln!(
                            err,
                            "{name}:{line}:{column}: error: {name} is not a Zoom QoS JSON response: invalid JSON at line {line}, column {column}: {message}"
                        )?
                    }
                    other => writeln!(err, "{name}:1:1: error: {other}")?,
                }
                failed = true;
                continue;
            }
        };
        for w in &response.warnings {
            tracing::warn!(file = %name, "unreadable value, taken as no data: {w}");
        }
        let meeting = forced.clone().unwrap_or(response.meeting);
        for mut p in response.participants {
            p.info.site = config.sites.site_for(&p.info);
            for s in p.samples {
                items.push((meeting.clone(), p.info.clone(), s));
            }
        }
    }
    if failed {
        return Ok(EXIT_FAIL);
    }
    // One sample-time order across all inputs (stable: file order breaks ties).
    items.sort_by(|a, b| (a.2.at, a.0.key(), &a.1.user_id).cmp(&(b.2.at, b.0.key(), &b.1.user_id)));
    let mut stepper = Stepper::new(rules);
    // One batch per distinct sample time: inhibition and incidents are
    // judged once every rule has seen every sample of that time.
    for batch in items.chunk_by(|a, b| a.2.at == b.2.at) {
        let batch: Vec<_> = batch.iter().map(|(m, p, s)| (m, p, s)).collect();
        let step = stepper.step(&batch);
        for (t, inhibited_by) in &step.transitions {
            let inhibited_by = inhibited_by.as_deref();
            match args.format {
                OutputFormat::Json => {
                    let line = JsonTransition {
                        inhibited_by,
                        ..JsonTransition::from(t)
                    };
                    serde_json::to_writer(&mut *out, &line)?;
                    writeln!(out)?;
                }
                OutputFormat::Text => match inhibited_by {
                    Some(by) => writeln!(
                        out,
                        "{} (inhibited by {by})",
                        text_line(t, &config.time_zone)
                    )?,
                    None => writeln!(out, "{}", text_line(t, &config.time_zone))?,
                },
            }
        }
        // Incident lines after the participant lines of the same time.
        for i in &step.incidents {
            match args.format {
                OutputFormat::Json => {
                    serde_json::to_writer(&mut *out, &JsonIncident::from(i))?;
                    writeln!(out)?;
                }
                OutputFormat::Text => writeln!(out, "{}", incident_line(i))?,
            }
        }
    }
    Ok(EXIT_OK)
}

/// The JSON line `eval --format json` prints (docs/operations.md).
#[derive(Serialize)]
pub struct JsonTransition<'a> {
    pub state: &'static str,
    pub rule: &'a str,
    pub severity: &'static str,
    pub meeting: Option<&'a str>,
    pub participant: &'a str,
    pub user_name: Option<&'a str>,
    pub metric: String,
    pub value: JsonNumber,
    pub unit: &'static str,
    pub at: String,
    /// The rule whose `inhibits`, or else the incident, that holds this
    /// transition's notification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inhibited_by: Option<&'a str>,
}

impl<'a> From<&'a Transition> for JsonTransition<'a> {
    fn from(t: &'a Transition) -> Self {
        JsonTransition {
            state: t.state.as_str(),
            rule: &t.rule,
            severity: t.severity.as_str(),
            meeting: t.meeting.key().map(|k| &**k),
            participant: &t.participant.user_id,
            user_name: t.participant.attribute("user_name"),
            metric: t.metric.path(),
            value: JsonNumber(t.value),
            unit: t.unit.as_str(),
            at: t.at.to_rfc3339(),
            inhibited_by: None,
        }
    }
}

/// A number printed as an integer when it is one (`150`, not `150.0`).
pub struct JsonNumber(pub f64);

impl Serialize for JsonNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            s.serialize_i64(v as i64)
        } else {
            s.serialize_f64(v)
        }
    }
}

/// The JSON line of an incident transition (SPEC 2).
#[derive(Serialize)]
pub struct JsonIncident<'a> {
    pub kind: &'static str,
    pub state: &'static str,
    pub rule: &'a str,
    pub severity: &'static str,
    pub scope: &'static str,
    /// `null` for the one meeting of inputs without a meeting id.
    pub scope_value: Option<&'a str>,
    pub meeting: Option<&'a str>,
    pub participant: Option<&'a str>,
    pub affected: u32,
    pub population: u32,
    /// Resolutions: the largest `affected` while it fired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak: Option<u32>,
    pub participants: Vec<&'a str>,
    pub at: String,
}

impl<'a> From<&'a IncidentTransition> for JsonIncident<'a> {
    fn from(i: &'a IncidentTransition) -> Self {
        JsonIncident {
            kind: "incident",
            state: i.state.as_str(),
            rule: &i.name,
            severity: i.severity.as_str(),
            scope: i.scope.name(),
            scope_value: Some(i.scope_value.as_str()).filter(|v| !v.is_empty()),
            meeting: i.meeting.as_ref().and_then(|m| m.key()).map(|k| &**k),
            participant: None,
            affected: i.affected,
            population: i.population,
            peak: (i.state == State::Resolved).then_some(i.peak),
            participants: i
                .participants
                .iter()
                .map(|a| a.participant.as_str())
                .collect(),
            at: i.at.to_rfc3339(),
        }
    }
}

/// An incident transition for people: what, where, how many, who.
fn incident_line(i: &IncidentTransition) -> String {
    let value = if i.scope_value.is_empty() {
        "-"
    } else {
        &i.scope_value
    };
    let who: Vec<&str> = i
        .participants
        .iter()
        .map(|a| a.participant.as_str())
        .collect();
    let figures = match i.state {
        State::Firing => format!("{} of {} affected", i.affected, i.population),
        State::Resolved => format!(
            "{} of {} affected, peak {}, after {}",
            i.affected,
            i.population,
            i.peak,
            crate::notify::format::secs(i.duration_secs())
        ),
    };
    format!(
        "{} {:<8} {:<8} {} incident {}={} {}: {}",
        i.at,
        i.state.as_str().to_uppercase(),
        i.severity,
        i.name,
        i.scope.name(),
        value,
        figures,
        who.join(", ")
    )
}

/// The transition for people; its time in `display.time_zone` when `-c`
/// names one other than UTC.
fn text_line(t: &Transition, tz: &jiff::tz::TimeZone) -> String {
    let line = crate::notify::format::transition_line(t);
    if tz.iana_name() == Some("UTC") {
        return line;
    }
    let utc = t.at.to_rfc3339();
    match line.strip_prefix(&utc) {
        Some(rest) => format!("{}{rest}", crate::notify::format::time(t.at, tz)),
        None => line,
    }
}
