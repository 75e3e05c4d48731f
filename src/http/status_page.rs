//! The status page's HTTP side (SPEC 15): `GET /` gathers what the service
//! publishes (alerts, incidents, silences, notifiers, Zoom use, watched
//! meetings) into a [`PageData`] for [`crate::page::render`]; its two forms
//! post to `POST /silences` and `POST /silences/{id}/expire`, which carry a
//! CSRF token and are refused from another origin (the guard refuses a
//! foreign `Origin`; here a foreign `Sec-Fetch-Site` and a missing or wrong
//! token). `GET /status.css` serves the style sheet, so the page's
//! Content-Security-Policy allows nothing inline. Every page is behind
//! [`super::auth::guard`], like `/api/*`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::silences::{add, now};
use super::{ApiAlert, ApiIncident, HttpState};
use crate::matcher::Matcher;
use crate::page::{
    AlertRow, CONTENT_SECURITY_POLICY, IncidentRow, Mark, MeetingGroup, NotifierRow, PageData,
    ReloadInfo, STYLESHEET, SilenceRow, WatchedMeeting, ZoomUse, form_matcher, render,
};
use crate::silence::wire::{MatcherValue, SilenceJson, SilenceRequest, matcher_value};

/// How often the page reloads itself.
const REFRESH_SECS: u32 = 15;

/// What a form's redirect back to the page says happened.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    done: Option<String>,
}

/// The silence form.
#[derive(Debug, Default, Deserialize)]
pub struct SilenceForm {
    #[serde(default)]
    csrf: String,
    /// One amtool matcher per line.
    #[serde(default)]
    matchers: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    until_meeting_end: Option<String>,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    created_by: String,
}

/// The expire button's form.
#[derive(Debug, Default, Deserialize)]
pub struct ExpireForm {
    #[serde(default)]
    csrf: String,
}

/// An HTML response with the page's security headers.
fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A plain page saying why a form was refused, with the way back.
fn refused(status: StatusCode, reason: &str) -> Response {
    let reason = reason
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    html(
        status,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>qoswatch: refused</title>\
             <link rel=\"stylesheet\" href=\"/status.css\"></head><body><h1>Not done</h1>\
             <p class=\"bad\">{reason}</p><p><a href=\"/\">Back to the status page</a></p></body></html>"
        ),
    )
}

/// Back to the page after a form, saying what was done.
fn back(done: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/?done={done}#silences")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `GET /status.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// `GET /`.
pub async fn page(State(s): State<Arc<HttpState>>, Query(q): Query<PageQuery>) -> Response {
    let notice = match q.done.as_deref() {
        Some("created") => Some("Silence created.".to_owned()),
        Some("expired") => Some("Silence expired.".to_owned()),
        _ => None,
    };
    let data = gather(&s, now(), notice);
    html(StatusCode::OK, render(&data))
}

/// Refuses a form sent from another site or without this page's token.
/// What every silence button checks first: the form's own token, and a
/// process that keeps silences.
fn form_silences<'a>(
    s: &'a HttpState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<&'a crate::silence::SharedSilences, (StatusCode, &'static str)> {
    check_form(s, headers, csrf).map_err(|reason| (StatusCode::FORBIDDEN, reason))?;
    s.silences.as_deref().ok_or((
        StatusCode::SERVICE_UNAVAILABLE,
        "this process keeps no silences",
    ))
}

fn check_form(s: &HttpState, headers: &HeaderMap, csrf: &str) -> Result<(), &'static str> {
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("same-origin");
    if !matches!(site, "same-origin" | "none") {
        return Err("cross-site form refused: send it from this status page");
    }
    if !s.admin.csrf_matches(csrf) {
        return Err(
            "the form's token is missing or out of date (the service restarted?): reload the status page and send it again",
        );
    }
    Ok(())
}

/// `POST /silences`: the silence form.
pub async fn create(
    State(s): State<Arc<HttpState>>,
    headers: HeaderMap,
    Form(f): Form<SilenceForm>,
) -> Response {
    let silences = match form_silences(&s, &headers, &f.csrf) {
        Ok(silences) => silences,
        Err((status, reason)) => return refused(status, reason),
    };
    let request = match request_of(&f) {
        Ok(r) => r,
        Err(reason) => return refused(StatusCode::BAD_REQUEST, &reason),
    };
    match add(silences, request) {
        Ok(_) => back("created"),
        Err((status, reason)) => refused(status, &reason),
    }
}

/// `POST /silences/{id}/expire`: the expire button.
pub async fn expire(
    State(s): State<Arc<HttpState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<ExpireForm>,
) -> Response {
    let silences = match form_silences(&s, &headers, &f.csrf) {
        Ok(silences) => silences,
        Err((status, reason)) => return refused(status, reason),
    };
    match silences.expire(&id, now()) {
        Ok(()) => {
            tracing::info!(%id, "silence expired from the status page");
            back("expired")
        }
        Err(e) => refused(StatusCode::NOT_FOUND, &e.to_string()),
    }
}

/// The API request a silence form stands for.
fn request_of(f: &SilenceForm) -> Result<SilenceRequest, String> {
    let mut matchers: BTreeMap<String, MatcherValue> = BTreeMap::new();
    for line in f.matchers.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let m = Matcher::parse_cli(line)?;
        if matchers.contains_key(&m.key) {
            return Err(format!("`{}` is given twice: one matcher per key", m.key));
        }
        matchers.insert(m.key.clone(), matcher_value(&m.op));
    }
    let until_meeting_end = f.until_meeting_end.is_some();
    let duration = f.duration.trim();
    Ok(SilenceRequest {
        matchers,
        duration: (!until_meeting_end && !duration.is_empty()).then(|| duration.to_owned()),
        until: until_meeting_end.then(|| "meeting_end".to_owned()),
        comment: f.comment.trim().to_owned(),
        created_by: f.created_by.trim().to_owned(),
        ..SilenceRequest::default()
    })
}

/// Everything the page shows, now.
fn gather(s: &HttpState, now: i64, notice: Option<String>) -> PageData {
    let silences: Vec<SilenceJson> = s.silences.as_ref().map_or_else(Vec::new, |x| x.list(now));
    let st = s
        .status
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tz = st.time_zone.clone().unwrap_or(jiff::tz::TimeZone::UTC);
    let when = |rfc3339: &str| -> String {
        rfc3339
            .parse::<jiff::Timestamp>()
            .map(|t| {
                t.to_zoned(tz.clone())
                    .strftime("%Y-%m-%d %H:%M %Z")
                    .to_string()
            })
            .unwrap_or_else(|_| rfc3339.to_owned())
    };
    let by_id: BTreeMap<&str, &SilenceJson> = silences.iter().map(|x| (x.id.as_str(), x)).collect();
    let silence_why = |ids: &[String]| -> String {
        let parts: Vec<String> = ids
            .iter()
            .map(|id| match by_id.get(id.as_str()) {
                Some(x) if x.created_by.is_empty() => format!("{} ({})", short(id), x.comment),
                Some(x) => format!("{} ({}, {})", short(id), x.comment, x.created_by),
                None => short(id).to_owned(),
            })
            .collect();
        format!("by silence {}", parts.join("; "))
    };

    // Groups: incidents across meetings first, then each meeting.
    let mut groups: BTreeMap<(u8, String), MeetingGroup> = BTreeMap::new();
    let title = |meeting: Option<&String>, topic: Option<&String>| match (topic, meeting) {
        (Some(t), Some(m)) => format!("{t} ({m})"),
        (None, Some(m)) => format!("Meeting {m}"),
        (Some(t), None) => t.clone(),
        (None, None) => "Unnamed meeting".to_owned(),
    };
    for i in st.incidents.values() {
        let key = match &i.meeting {
            Some(m) => (1, m.clone()),
            None => (0, String::new()),
        };
        let g = groups.entry(key).or_insert_with(|| MeetingGroup {
            title: match &i.meeting {
                Some(m) => title(Some(m), i.topic.as_ref()),
                None => "Across meetings".to_owned(),
            },
            ..MeetingGroup::default()
        });
        g.incidents.push(incident_row(i, &when, &silence_why));
    }
    for a in st.alerts.values() {
        let key = (1, a.meeting.clone().unwrap_or_default());
        let g = groups.entry(key).or_insert_with(|| MeetingGroup {
            title: title(a.meeting.as_ref(), a.topic.as_ref()),
            ..MeetingGroup::default()
        });
        g.alerts.push(alert_row(a, &when, &silence_why));
    }
    let mut groups: Vec<MeetingGroup> = groups.into_values().collect();
    for g in &mut groups {
        // The worst first.
        g.alerts
            .sort_by_key(|a| std::cmp::Reverse(severity_rank(&a.severity)));
    }

    let mut silence_rows: Vec<SilenceRow> = silences
        .iter()
        .map(|x| SilenceRow {
            id: x.id.clone(),
            state: x.state.clone(),
            matchers: x
                .matchers
                .iter()
                .map(|(k, v)| match v {
                    MatcherValue::One(v) => format!("{k}: {v}"),
                    MatcherValue::Any(items) => format!("{k}: [{}]", items.join(", ")),
                })
                .collect::<Vec<_>>()
                .join(", "),
            starts_at: when(&x.starts_at),
            ends_at: match (&x.ends_at, &x.until) {
                (Some(e), _) => when(e),
                (None, Some(_)) => "meeting end".to_owned(),
                (None, None) => String::new(),
            },
            comment: x.comment.clone(),
            created_by: x.created_by.clone(),
        })
        .collect();
    silence_rows.sort_by_key(|r| match r.state.as_str() {
        "active" => 0,
        "pending" => 1,
        _ => 2,
    });

    let m = &s.metrics;
    let zoom = (!st.source_is_replay).then(|| {
        let budget = m.zoom.budget_daily.get();
        let left = m.zoom.budget_remaining.get();
        ZoomUse {
            requests: (budget - left).max(0),
            budget,
            left,
        }
    });
    let reload_at = m.service.reload_time.get();
    let reload = ReloadInfo {
        at: (reload_at > 0.0).then(|| {
            jiff::Timestamp::from_second(reload_at as i64)
                .map(|t| {
                    t.to_zoned(tz.clone())
                        .strftime("%Y-%m-%d %H:%M %Z")
                        .to_string()
                })
                .unwrap_or_default()
        }),
        ok: m.service.reload_success.get() == 1,
        rules: m.service.rules_loaded.get(),
    };
    let notifiers = st
        .notifiers
        .iter()
        .map(|n| NotifierRow {
            name: n.name.clone(),
            kind: n.kind.clone(),
            depth: m
                .delivery
                .outbox
                .with_label_values(&[n.name.as_str()])
                .get(),
            last_error: n.last_error.clone(),
        })
        .collect();
    let watched = st
        .watched
        .iter()
        .map(|(key, w)| WatchedMeeting {
            title: title(Some(key), w.topic.as_ref()),
            participants: w.participants.values().cloned().collect(),
        })
        .collect();
    let can_write = s.admin.configured() && s.silences.is_some();
    PageData {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        cadence: if st.cadence.is_empty() {
            "unknown".to_owned()
        } else {
            st.cadence.clone()
        },
        generated_at: jiff::Timestamp::from_second(now)
            .map(|t| {
                t.to_zoned(tz.clone())
                    .strftime("%Y-%m-%d %H:%M:%S %Z")
                    .to_string()
            })
            .unwrap_or_default(),
        refresh_secs: REFRESH_SECS,
        notice,
        firing: st.alerts.len(),
        incident_count: st.incidents.len(),
        zoom,
        reload,
        notifiers,
        groups,
        silences: silence_rows,
        watched,
        can_write,
        read_only_reason: if can_write {
            String::new()
        } else {
            "Read only: set `http.admin_token` in the config to make and expire silences from this page.".to_owned()
        },
        csrf: s.admin.csrf_token().to_owned(),
    }
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "critical" => 2,
        "warning" => 1,
        _ => 0,
    }
}

/// The first block of a silence id, as people quote it.
fn short(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

/// A number as people read it (`220`, `7.25`).
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

fn with_unit(v: f64, unit: &str) -> String {
    if unit == "%" {
        format!("{}%", number(v))
    } else {
        format!("{} {unit}", number(v))
    }
}

fn alert_row(
    a: &ApiAlert,
    when: &dyn Fn(&str) -> String,
    silence_why: &dyn Fn(&[String]) -> String,
) -> AlertRow {
    let mut marks: Vec<Mark> = silence_mark(&a.silenced_by, silence_why)
        .into_iter()
        .collect();
    if !a.inhibited_by.is_empty() {
        marks.push(Mark {
            class: "inhibited",
            label: "inhibited",
            why: format!("by {}", a.inhibited_by.join(", ")),
        });
    }
    if a.muted {
        marks.push(Mark {
            class: "muted",
            label: "muted",
            why: "by the routes' time intervals".to_owned(),
        });
    }
    let mut matchers = vec![form_matcher("rule", &a.rule)];
    if let Some(m) = &a.meeting {
        matchers.push(form_matcher("meeting", m));
    }
    matchers.push(form_matcher("participant", &a.participant));
    AlertRow {
        fingerprint: a.fingerprint.clone(),
        severity: a.severity.clone(),
        rule: a.rule.clone(),
        who: a.user_name.clone().unwrap_or_else(|| a.participant.clone()),
        value: format!(
            "{} {} (threshold {})",
            a.metric,
            with_unit(a.value, a.unit),
            with_unit(a.threshold, a.unit)
        ),
        since: when(&a.since),
        marks,
        matchers: matchers.join("\n"),
    }
}

fn incident_row(
    i: &ApiIncident,
    when: &dyn Fn(&str) -> String,
    silence_why: &dyn Fn(&[String]) -> String,
) -> IncidentRow {
    IncidentRow {
        fingerprint: i.fingerprint.clone(),
        severity: i.severity.clone(),
        rule: i.rule.clone(),
        scope: i.scope.clone(),
        scope_value: i.scope_value.clone(),
        affected_text: match (i.affected, i.population) {
            (Some(a), Some(p)) => format!("{a} of {p} affected"),
            _ => format!("{} affected", i.participants.len()),
        },
        shared: i
            .shared
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        since: when(&i.since),
        marks: silence_mark(&i.silenced_by, silence_why)
            .into_iter()
            .collect(),
    }
}

/// The `silenced` mark of a row held by these silences, if any.
fn silence_mark(ids: &[String], silence_why: &dyn Fn(&[String]) -> String) -> Option<Mark> {
    (!ids.is_empty()).then(|| Mark {
        class: "silenced",
        label: "silenced",
        why: silence_why(ids),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::http::auth::AdminAuth;

    fn form(matchers: &str) -> SilenceForm {
        SilenceForm {
            matchers: matchers.into(),
            duration: "2h".into(),
            comment: "venue Wi-Fi".into(),
            created_by: "ana".into(),
            ..SilenceForm::default()
        }
    }

    #[test]
    fn a_form_becomes_the_api_request() {
        let r = request_of(&form(
            "rule=audio-loss-high\nmeeting=\"857 460\"\n\nuser_name=~^Room-",
        ))
        .unwrap();
        assert_eq!(r.matchers.len(), 3);
        assert_eq!(r.matchers["meeting"], MatcherValue::One("857 460".into()));
        assert_eq!(r.matchers["user_name"], MatcherValue::One("~^Room-".into()));
        assert_eq!(r.duration.as_deref(), Some("2h"));
        assert_eq!(r.until, None);
        let mut f = form("meeting=1");
        f.until_meeting_end = Some("1".into());
        let r = request_of(&f).unwrap();
        assert_eq!(
            (r.duration, r.until.as_deref()),
            (None, Some("meeting_end"))
        );
        assert!(
            request_of(&form("rule=a\nrule=b"))
                .unwrap_err()
                .contains("twice")
        );
        assert!(request_of(&form("rule")).is_err());
    }

    #[test]
    fn forms_need_this_process_token_and_this_site() {
        let token = Secret::new("0123456789abcdef0123");
        let s = HttpState::for_tests().with_admin(AdminAuth::new(Some(&token)));
        let csrf = s.admin.csrf_token().to_owned();
        assert_eq!(csrf.len(), 32);
        let mut h = HeaderMap::new();
        assert!(check_form(&s, &h, &csrf).is_ok());
        assert!(check_form(&s, &h, "").is_err());
        assert!(check_form(&s, &h, "0123").is_err());
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(check_form(&s, &h, &csrf).is_err());
        // Without an admin token there is no form token at all.
        let open = HttpState::for_tests();
        assert!(open.admin.csrf_token().is_empty());
        assert!(check_form(&open, &HeaderMap::new(), "").is_err());
    }
}
