//! `qoswatch notify-test`: post one clearly marked test message to each
//! named notifier, directly (not through the outbox), and say what each
//! receiver answered.

use std::io::Write;
use std::path::Path;

use super::{EXIT_FAIL, EXIT_OK};
use crate::alert::{Event, State, SystemAlert};
use crate::config::{Config, EnvMode, NotifierConfig, UNSET_MARK};
use crate::notify::channel::{self, Group, Message, Outcome};
use crate::notify::delivery::{DeliveryTuning, Sender};
use crate::notify::view;
use crate::qos::Timestamp;
use crate::rules::Severity;

/// The test message's alert name, as it shows in chat.
pub const TEST_ALERT: &str = "qoswatch-notify-test";

/// Why `notify-test` could not start.
#[derive(Debug, thiserror::Error)]
pub enum NotifyTestError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    UnknownNotifier(String),
}

/// Posts the test message to `names` (default: every notifier of the
/// config) and prints `NAME: ok (HTTP 200)` or `NAME: failed: REASON` per
/// notifier. Returns the exit code.
pub async fn run(
    config: &Path,
    names: &[String],
    now: Timestamp,
    out: &mut dyn Write,
) -> Result<i32, NotifyTestError> {
    // Lenient: the Zoom credentials are not needed to test a webhook; a
    // notifier whose own URL is unset fails by name below.
    let config = Config::load(config, EnvMode::Lenient).map_err(|d| {
        NotifyTestError::Config(
            d.0.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let chosen = choose(&config, names)?;
    let tuning = DeliveryTuning::default();
    let mut failed = false;
    for notifier in chosen {
        let line = match send(notifier, &config, &tuning, now, out).await {
            Ok(how) => format!("{}: ok ({how})", notifier.name),
            Err(reason) => {
                failed = true;
                format!("{}: failed: {reason}", notifier.name)
            }
        };
        let _ = writeln!(out, "{line}");
    }
    Ok(if failed { EXIT_FAIL } else { EXIT_OK })
}

/// The notifiers named, in the order given; every one when none is.
fn choose<'a>(
    config: &'a Config,
    names: &[String],
) -> Result<Vec<&'a NotifierConfig>, NotifyTestError> {
    if names.is_empty() {
        return Ok(config.notifiers.values().collect());
    }
    names
        .iter()
        .map(|n| {
            config.notifiers.get(n).ok_or_else(|| {
                let known: Vec<&str> = config.notifiers.keys().map(String::as_str).collect();
                let hint = crate::yaml::suggest(n, &known)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                NotifyTestError::UnknownNotifier(format!(
                    "{}: no notifier `{n}`{hint} (notifiers: {})",
                    config.path.display(),
                    known.join(", ")
                ))
            })
        })
        .collect()
}

/// The test message: a built-in info alert whose text says what it is.
fn message(notifier: &str, now: Timestamp) -> Event {
    Event::System(SystemAlert {
        name: TEST_ALERT,
        state: State::Firing,
        severity: Severity::Info,
        message: format!(
            "Test message from qoswatch notify-test to notifier `{notifier}`: this channel is wired correctly. No action needed."
        ),
        at: now,
        since: now,
        labels: std::collections::BTreeMap::from([("notifier".to_owned(), notifier.to_owned())]),
    })
}

/// Sends one test message; `Ok` says how it went through.
async fn send(
    notifier: &NotifierConfig,
    config: &Config,
    tuning: &DeliveryTuning,
    now: Timestamp,
    out: &mut dyn Write,
) -> Result<String, String> {
    if let Some(var) = unset_variable(notifier) {
        return Err(format!("its URL uses ${{{var}}}, which is not set"));
    }
    let event = message(&notifier.name, now);
    let presentation = view::Presentation {
        time_zone: config.display.time_zone.clone(),
        links: Vec::new(),
    };
    let views = [view::view_with(&event, &[], &presentation)];
    let events = [&event];
    let group = Group {
        notifier: &notifier.name,
        views: &views,
        events: &events,
        limit: 1,
        mention: &[],
    };
    match channel::build(notifier).render(&group) {
        Message::Print(text) => {
            let _ = writeln!(out, "{text}");
            Ok("printed".into())
        }
        Message::Post(body) => {
            let body = serde_json::to_string(&body).expect("JSON values serialise");
            let sender = Sender::new(notifier.clone(), tuning);
            match sender.post_answer(&body).await {
                (Some(status), Outcome::Delivered) => Ok(format!("HTTP {status}")),
                (None, Outcome::Delivered) => Ok("sent".into()),
                (_, Outcome::Retry { reason, .. } | Outcome::Permanent { reason }) => Err(reason),
            }
        }
    }
}

/// The variable a notifier's URL needs but the environment lacks.
fn unset_variable(notifier: &NotifierConfig) -> Option<String> {
    let url = notifier.kind.url()?.expose();
    let at = url.find(UNSET_MARK)? + UNSET_MARK.len();
    let name: String = url[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    Some(name)
}
