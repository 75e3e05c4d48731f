//! The status page (`GET /`, SPEC 15): what people look at. Pure
//! rendering: the HTTP layer gathers a [`PageData`] (alerts and incidents
//! grouped by meeting with their marks, silences, notifiers, Zoom use,
//! watched meetings) and [`render`] turns it into one server-side HTML page
//! with no external assets (its style sheet is served from `/status.css`, so
//! the Content-Security-Policy allows nothing inline), readable without
//! JavaScript and refreshing itself with a meta refresh. Every value is
//! HTML-escaped by the template engine (the template's name ends in
//! `.html`, which turns minijinja's auto-escaping on).

use std::sync::OnceLock;

use serde::Serialize;

/// The page's template.
const TEMPLATE: &str = include_str!("page/status.html");
/// Its style sheet, served at `/status.css`.
pub const STYLESHEET: &str = include_str!("page/status.css");
/// The policy every page carries: nothing from elsewhere, nothing inline,
/// forms only to this origin, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Everything the page shows, as strings ready to print.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PageData {
    pub version: String,
    pub cadence: String,
    /// When the page was made, in `display.time_zone`.
    pub generated_at: String,
    pub refresh_secs: u32,
    /// A one-line result of the last form sent ("Silence 3f2a created").
    pub notice: Option<String>,
    pub firing: usize,
    pub incident_count: usize,
    /// Today's Zoom requests; `None` for a replay source.
    pub zoom: Option<ZoomUse>,
    pub reload: ReloadInfo,
    pub notifiers: Vec<NotifierRow>,
    /// Firing alerts and incidents, one group per meeting (incidents across
    /// meetings in a group of their own, first).
    pub groups: Vec<MeetingGroup>,
    pub silences: Vec<SilenceRow>,
    pub watched: Vec<WatchedMeeting>,
    /// Whether silences can be made and expired here (`http.admin_token`).
    pub can_write: bool,
    /// Why not, when not.
    pub read_only_reason: String,
    /// The CSRF token the page's forms carry.
    pub csrf: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ZoomUse {
    pub requests: i64,
    pub budget: i64,
    pub left: i64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ReloadInfo {
    pub at: Option<String>,
    pub ok: bool,
    pub rules: i64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct NotifierRow {
    pub name: String,
    pub kind: String,
    pub depth: i64,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct MeetingGroup {
    /// "Weekly sync (85746065432)", or "Across meetings".
    pub title: String,
    pub incidents: Vec<IncidentRow>,
    pub alerts: Vec<AlertRow>,
}

/// Why a row's notification is not (or not yet) sent.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Mark {
    /// `silenced`, `inhibited` or `muted` (a CSS class too).
    pub class: &'static str,
    pub label: &'static str,
    /// "by silence 3f2a (Known bad Wi-Fi at the venue, ana)".
    pub why: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct AlertRow {
    pub fingerprint: String,
    pub severity: String,
    pub rule: String,
    /// The participant's name (user id when it has none).
    pub who: String,
    /// "audio_input.latency 220 ms (threshold 150 ms)".
    pub value: String,
    pub since: String,
    pub marks: Vec<Mark>,
    /// The silence form's matchers, one amtool matcher per line.
    pub matchers: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct IncidentRow {
    pub fingerprint: String,
    pub severity: String,
    pub rule: String,
    pub scope: String,
    pub scope_value: String,
    /// "6 of 8 affected".
    pub affected_text: String,
    /// "data_center: SJC, network_type: Wifi".
    pub shared: String,
    pub since: String,
    pub marks: Vec<Mark>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SilenceRow {
    pub id: String,
    pub state: String,
    /// The matchers as amtool writes them, comma-separated.
    pub matchers: String,
    pub starts_at: String,
    /// "meeting end" while waiting for one.
    pub ends_at: String,
    pub comment: String,
    pub created_by: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct WatchedMeeting {
    pub title: String,
    pub participants: Vec<String>,
}

fn environment() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        env.add_template("status.html", TEMPLATE)
            .expect("the status page template parses");
        env
    })
}

/// The page as HTML.
pub fn render(data: &PageData) -> String {
    environment()
        .get_template("status.html")
        .and_then(|t| t.render(data))
        .unwrap_or_else(|e| {
            // The template is fixed and tested; this is a bug, shown plainly.
            tracing::error!("rendering the status page failed: {e:#}");
            format!(
                "<!doctype html><title>qoswatch</title><p>The status page failed to render: {e}</p>"
            )
            .replace('<', "&lt;")
        })
}

/// One amtool matcher as the form carries it (read back by
/// `Matcher::parse_cli`): `KEY="VALUE"` when the value holds anything but
/// letters, digits and `-_.:@` (the outer quotes are taken off, nothing
/// inside is unescaped).
pub fn form_matcher(key: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.:@".contains(c));
    if plain {
        format!("{key}={value}")
    } else {
        format!("{key}=\"{value}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> PageData {
        PageData {
            version: "1.0".into(),
            cadence: "every sample".into(),
            generated_at: "2026-12-02 10:00 CET".into(),
            refresh_secs: 15,
            firing: 1,
            can_write: true,
            csrf: "tok".into(),
            groups: vec![MeetingGroup {
                title: "Weekly <sync> (85746065432)".into(),
                incidents: Vec::new(),
                alerts: vec![AlertRow {
                    fingerprint: "fp1".into(),
                    severity: "critical".into(),
                    rule: "audio-latency-high".into(),
                    who: "<script>alert(1)</script>".into(),
                    value: "audio_input.latency 220 ms".into(),
                    since: "09:58".into(),
                    marks: vec![Mark {
                        class: "silenced",
                        label: "silenced",
                        why: "by silence s1 (venue Wi-Fi, ana)".into(),
                    }],
                    matchers: "rule=audio-latency-high\nparticipant=16778240".into(),
                }],
            }],
            silences: vec![SilenceRow {
                id: "s1".into(),
                state: "active".into(),
                matchers: "rule=audio-latency-high".into(),
                comment: "venue Wi-Fi".into(),
                created_by: "ana".into(),
                ..SilenceRow::default()
            }],
            ..PageData::default()
        }
    }

    #[test]
    fn values_are_escaped_and_forms_carry_the_csrf_token() {
        let html = render(&data());
        assert!(!html.contains("<script>alert(1)"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(html.contains("Weekly &lt;sync&gt;"), "{html}");
        assert!(html.contains(r#"name="csrf" value="tok""#), "{html}");
        assert!(html.contains(r#"action="/silences/s1/expire""#), "{html}");
        assert!(html.contains("participant=16778240"), "{html}");
        assert!(html.contains("by silence s1"), "{html}");
        assert!(
            !html.contains("<style") && !html.contains("<script"),
            "{html}"
        );
    }

    #[test]
    fn a_read_only_page_has_no_forms() {
        let mut d = data();
        d.can_write = false;
        d.read_only_reason = "Set http.admin_token to silence alerts from here.".into();
        let html = render(&d);
        assert!(!html.contains("<form"), "{html}");
        assert!(html.contains("http.admin_token"), "{html}");
    }

    #[test]
    fn form_matchers_quote_what_needs_it() {
        assert_eq!(form_matcher("rule", "audio-loss"), "rule=audio-loss");
        assert_eq!(
            form_matcher("topic", "Town \"hall\""),
            r#"topic="Town "hall"""#
        );
        let m =
            crate::matcher::Matcher::parse_cli(&form_matcher("topic", "Town \"hall\"")).unwrap();
        assert!(m.matches(Some("Town \"hall\"")));
    }
}
