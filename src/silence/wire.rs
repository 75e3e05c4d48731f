//! Silences as JSON: the API's request (`POST /api/silences`), checked
//! into a [`NewSilence`] with a reason for every refusal; the silence as
//! the API shows it ([`SilenceJson`]); and the state file's form.
//!
//! Matchers are a map of `KEY: VALUE` in the one matcher syntax (SPEC 11):
//! `"lat"`, `"~^Room-"`, `"!Town hall"`, `"!~(?i)all.?hands"`, or a list
//! of literals and `~regex`es.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{DAY, End, Silence};
use crate::matcher::{self, Item, Matcher, Op};
use crate::qos::Timestamp;

/// A matcher's value as written in JSON.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum MatcherValue {
    One(String),
    Any(Vec<String>),
}

/// `POST /api/silences`'s body, as sent.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    #[serde(default)]
    pub matchers: BTreeMap<String, MatcherValue>,
    /// RFC 3339; default: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    /// humantime (`2h`), from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// `meeting_end`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub created_by: String,
}

/// How a new silence is to end, before its start is known.
#[derive(Clone, Debug, PartialEq)]
pub enum PlannedEnd {
    At(i64),
    /// Seconds after the start.
    After(i64),
    /// When this meeting (number or UUID) ends.
    MeetingEnd(String),
}

impl PlannedEnd {
    pub fn resolve(self, starts_at: i64) -> End {
        match self {
            PlannedEnd::At(t) => End::At(t),
            PlannedEnd::After(d) => End::At(starts_at.saturating_add(d)),
            PlannedEnd::MeetingEnd(meeting) => End::MeetingEnd {
                meeting,
                instance: None,
            },
        }
    }
}

/// A checked request: it can be added as it is.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSilence {
    pub matchers: Vec<Matcher>,
    pub starts_at: Option<i64>,
    pub end: PlannedEnd,
    pub comment: String,
    pub created_by: String,
}

/// Reads an RFC 3339 time as unix seconds.
pub fn parse_time(field: &str, text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp())
        .map_err(|e| {
            format!(
                "`{field}`: `{}` is not an RFC 3339 time such as 2026-05-04T18:00:00Z ({e})",
                crate::shorten(text, 60)
            )
        })
}

/// Reads one matcher of the map; `labels` are the loaded rules' labels,
/// the keys allowed besides the alert attributes.
pub fn parse_matcher(key: &str, value: &MatcherValue, labels: &[&str]) -> Result<Matcher, String> {
    if !matcher::is_alert_attribute(key) && !labels.contains(&key) {
        let mut known: Vec<&str> = matcher::ALERT_KEYS.to_vec();
        known.extend(crate::qos::ATTRIBUTE_NAMES);
        known.extend(labels);
        return Err(format!(
            "unknown matcher key `{}`{}: not an alert attribute nor a label of a loaded rule",
            crate::shorten(key, 60),
            matcher::did_you_mean(key, &known)
        ));
    }
    let op = match value {
        MatcherValue::One(text) => Op::parse(text),
        MatcherValue::Any(items) if items.is_empty() => {
            Err("an empty list matches nothing".to_owned())
        }
        MatcherValue::Any(items) => items
            .iter()
            .map(|i| Op::parse_item(i))
            .collect::<Result<Vec<Item>, String>>()
            .map(Op::AnyOf),
    }
    .map_err(|e| format!("matcher `{key}`: {e}"))?;
    for literal in op.literals() {
        matcher::check_literal(key, literal).map_err(|e| format!("matcher `{key}`: {e}"))?;
    }
    Ok(Matcher {
        key: key.to_owned(),
        op,
    })
}

/// A matcher's value as it is written back (parsing it gives it again).
pub fn matcher_value(op: &Op) -> MatcherValue {
    fn escape(s: &str) -> String {
        if s.starts_with('~') || s.starts_with('!') {
            format!("\\{s}")
        } else {
            s.to_owned()
        }
    }
    match op {
        Op::Equal(s) => MatcherValue::One(escape(s)),
        Op::NotEqual(s) => MatcherValue::One(format!("!{}", escape(s))),
        Op::Regex(r) => MatcherValue::One(format!("~{}", r.as_str())),
        Op::NotRegex(r) => MatcherValue::One(format!("!~{}", r.as_str())),
        Op::AnyOf(items) => MatcherValue::Any(
            items
                .iter()
                .map(|i| match i {
                    Item::Literal(s) => escape(s),
                    Item::Regex(r) => format!("~{}", r.as_str()),
                })
                .collect(),
        ),
    }
}

/// The matchers as a JSON map.
pub fn matchers_map(matchers: &[Matcher]) -> BTreeMap<String, MatcherValue> {
    matchers
        .iter()
        .map(|m| (m.key.clone(), matcher_value(&m.op)))
        .collect()
}

impl SilenceRequest {
    /// Checks the request at `now` (unix seconds) against the alert
    /// attributes and `labels`; the error is the reason to give the client.
    pub fn check(self, labels: &[&str], now: i64) -> Result<NewSilence, String> {
        if self.matchers.is_empty() {
            return Err(
                "`matchers` is required: at least one, such as {\"rule\": \"audio-loss-high\"}"
                    .into(),
            );
        }
        let matchers = self
            .matchers
            .iter()
            .map(|(k, v)| parse_matcher(k, v, labels))
            .collect::<Result<Vec<_>, _>>()?;
        let starts_at = self
            .starts_at
            .as_deref()
            .map(|t| parse_time("starts_at", t))
            .transpose()?;
        let ends: Vec<&str> = [
            ("ends_at", &self.ends_at),
            ("duration", &self.duration),
            ("until", &self.until),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k)
        .collect();
        let end = match (&self.ends_at, &self.duration, &self.until, ends.len()) {
            (_, _, _, 0) => {
                return Err(
                    "no end: give `ends_at` (RFC 3339), `duration` (such as 2h) or `until: meeting_end`"
                        .into(),
                );
            }
            (_, _, _, 2..) => {
                return Err(format!(
                    "give one end, not {}: `ends_at`, `duration` or `until`",
                    ends.join(" and ")
                ));
            }
            (Some(t), _, _, _) => {
                let at = parse_time("ends_at", t)?;
                let start = starts_at.unwrap_or(now);
                if at <= start.max(now) {
                    return Err(format!(
                        "`ends_at` {} is not after the start and now",
                        Timestamp(at).to_rfc3339()
                    ));
                }
                PlannedEnd::At(at)
            }
            (_, Some(d), _, _) => {
                let d = humantime::parse_duration(d.trim()).map_err(|e| {
                    format!(
                        "`duration`: `{}` is not a duration such as 90m or 2h ({e})",
                        crate::shorten(d, 60)
                    )
                })?;
                if d.is_zero() {
                    return Err("`duration` must be more than 0".into());
                }
                PlannedEnd::After(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            }
            (_, _, Some(u), _) if u == "meeting_end" => {
                let meeting: Vec<&str> = matchers
                    .iter()
                    .filter(|m| m.key == "meeting")
                    .map(|m| match &m.op {
                        Op::Equal(v) => Some(v.as_str()),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .unwrap_or_default();
                match meeting[..] {
                    [m] => PlannedEnd::MeetingEnd(m.to_owned()),
                    _ => {
                        return Err("`until: meeting_end` needs exactly one equality `meeting` matcher, such as {\"meeting\": \"85746065432\"}".into());
                    }
                }
            }
            (_, _, u, _) => {
                return Err(format!(
                    "`until`: `{}` is not known; the one value is `meeting_end`",
                    crate::shorten(u.as_deref().unwrap_or_default(), 60)
                ));
            }
        };
        if let (Some(s), PlannedEnd::At(_) | PlannedEnd::After(_)) = (starts_at, &end)
            && s < now - DAY
        {
            return Err("`starts_at` is more than 24 h in the past".into());
        }
        if self.comment.trim().is_empty() {
            return Err("`comment` is required: say why, for the people who see it".into());
        }
        Ok(NewSilence {
            matchers,
            starts_at,
            end,
            comment: self.comment,
            created_by: self.created_by,
        })
    }
}

/// A silence as the API shows it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct SilenceJson {
    pub id: String,
    pub matchers: BTreeMap<String, MatcherValue>,
    pub starts_at: String,
    /// Null while it waits for a meeting end.
    pub ends_at: Option<String>,
    /// `meeting_end`, or null.
    pub until: Option<String>,
    pub comment: String,
    pub created_by: String,
    pub state: String,
}

impl SilenceJson {
    pub fn of(s: &Silence, now: i64) -> SilenceJson {
        SilenceJson {
            id: s.id.clone(),
            matchers: matchers_map(&s.matchers),
            starts_at: Timestamp(s.starts_at).to_rfc3339(),
            ends_at: s.ends_at().map(|t| Timestamp(t).to_rfc3339()),
            until: matches!(s.end, End::MeetingEnd { .. }).then(|| "meeting_end".to_owned()),
            comment: s.comment.clone(),
            created_by: s.created_by.clone(),
            state: s.state(now).as_str().to_owned(),
        }
    }
}

/// A silence as `state_dir/silences.json` keeps it (unix seconds).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Stored {
    pub id: String,
    pub matchers: BTreeMap<String, MatcherValue>,
    pub starts_at: i64,
    /// The planned end; absent for `until: meeting_end`.
    #[serde(default)]
    pub ends_at: Option<i64>,
    /// The meeting of `until: meeting_end`.
    #[serde(default)]
    pub until_meeting_end: Option<String>,
    #[serde(default)]
    pub instance: Option<String>,
    pub comment: String,
    pub created_by: String,
    pub created_at: i64,
    #[serde(default)]
    pub ended_at: Option<i64>,
}

/// `state_dir/silences.json`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct StoredFile {
    pub version: u32,
    pub silences: Vec<Stored>,
}

impl Stored {
    pub fn of(s: &Silence) -> Stored {
        let (ends_at, until_meeting_end, instance) = match &s.end {
            End::At(t) => (Some(*t), None, None),
            End::MeetingEnd { meeting, instance } => {
                (None, Some(meeting.clone()), instance.clone())
            }
        };
        Stored {
            id: s.id.clone(),
            matchers: matchers_map(&s.matchers),
            starts_at: s.starts_at,
            ends_at,
            until_meeting_end,
            instance,
            comment: s.comment.clone(),
            created_by: s.created_by.clone(),
            created_at: s.created_at,
            ended_at: s.ended_at,
        }
    }

    /// Back to a silence. Keys are taken as saved (a label may belong to
    /// rules not loaded yet); a matcher that no longer parses is an error.
    pub fn into_silence(self) -> Result<Silence, String> {
        let matchers = self
            .matchers
            .iter()
            .map(|(k, v)| {
                let op = match v {
                    MatcherValue::One(t) => Op::parse(t)?,
                    MatcherValue::Any(items) => Op::AnyOf(
                        items
                            .iter()
                            .map(|i| Op::parse_item(i))
                            .collect::<Result<_, _>>()?,
                    ),
                };
                Ok(Matcher { key: k.clone(), op })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let end = match (self.ends_at, self.until_meeting_end) {
            (Some(t), None) => End::At(t),
            (None, Some(meeting)) => End::MeetingEnd {
                meeting,
                instance: self.instance,
            },
            _ => return Err(format!("silence {}: no single end", self.id)),
        };
        Ok(Silence {
            id: self.id,
            matchers,
            starts_at: self.starts_at,
            end,
            comment: self.comment,
            created_by: self.created_by,
            created_at: self.created_at,
            ended_at: self.ended_at,
        })
    }
}
