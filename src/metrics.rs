//! The service's Prometheus metrics (text format 0.0.4, base units, the
//! `qoswatch_` prefix), grouped by the stage that owns them.
//!
//! Each stage gets its handles at construction and bumps them as it works;
//! nothing is copied into the registry at scrape time. `/metrics` only
//! renders the registry.

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The Zoom client's metrics.
#[derive(Clone)]
pub struct ZoomMetrics {
    /// `qoswatch_zoom_requests_total{endpoint, status}`.
    pub requests: IntCounterVec,
    pub budget_remaining: IntGauge,
    pub budget_daily: IntGauge,
}

/// The poller's metrics.
#[derive(Clone)]
pub struct PollerMetrics {
    pub poll_duration: Histogram,
    pub stretch: Gauge,
    pub delay: Gauge,
    pub meetings: IntGauge,
    /// `qoswatch_meetings{state}`: tracked meetings by state (`hot`,
    /// `quiet`, `qss`: SPEC 14's quiet cadence).
    pub meetings_by_state: IntGaugeVec,
}

/// The Zoom event receiver's metrics (webhook and WebSocket).
#[derive(Clone)]
pub struct EventMetrics {
    /// `qoswatch_zoom_events_total{event, outcome}`: `event` is one of the
    /// events qoswatch uses, or `other`; `outcome` is processed, ignored,
    /// duplicate or malformed.
    pub events: IntCounterVec,
    /// `qoswatch_zoom_webhook_requests_total{status}`.
    pub webhook_requests: IntCounterVec,
    /// `qoswatch_zoom_websocket_up`.
    pub websocket_up: IntGauge,
    /// `qoswatch_zoom_websocket_connects_total{outcome}`.
    pub websocket_connects: IntCounterVec,
}

/// The notification path's metrics: the dispatcher's suppressions and
/// delivery's outcomes.
#[derive(Clone)]
pub struct DeliveryMetrics {
    /// `qoswatch_notifications_total{notifier, outcome}`.
    pub notifications: IntCounterVec,
    /// `qoswatch_outbox_messages{notifier}`.
    pub outbox: IntGaugeVec,
    /// `qoswatch_notifications_suppressed_total{reason}`: transitions the
    /// notification policy held back (`inhibited`: a rule's `inhibits`;
    /// `incident`; `muted` / `inactive`: a route's time intervals, per
    /// notifier).
    pub suppressed: IntCounterVec,
}

/// The service's own metrics: samples, alerts, reloads, source health.
#[derive(Clone)]
pub struct ServiceMetrics {
    pub samples: IntCounter,
    /// `qoswatch_samples_rejected_total{reason}`: `future` for a sample
    /// dated more than 5 minutes ahead of the clock.
    pub samples_rejected: IntCounterVec,
    pub alerts_firing: IntGaugeVec,
    pub reload_success: IntGauge,
    pub reload_time: Gauge,
    pub rules_loaded: IntGauge,
    pub source_up: IntGauge,
    pub info: GaugeVec,
}

/// Every metric, registered in one registry.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub zoom: ZoomMetrics,
    pub poller: PollerMetrics,
    pub events: EventMetrics,
    pub delivery: DeliveryMetrics,
    pub service: ServiceMetrics,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        macro_rules! reg {
            ($m:expr) => {{
                let m = $m.expect("valid metric");
                registry
                    .register(Box::new(m.clone()))
                    .expect("unique metric");
                m
            }};
        }
        let o = |n: &str, h: &str| Opts::new(n, h);
        let zoom = ZoomMetrics {
            requests: reg!(IntCounterVec::new(
                o(
                    "qoswatch_zoom_requests_total",
                    "Zoom API requests by endpoint and HTTP status (error or timeout when none came back)."
                ),
                &["endpoint", "status"]
            )),
            budget_remaining: reg!(IntGauge::with_opts(o(
                "qoswatch_zoom_budget_remaining_requests",
                "Requests left in today's Zoom API budget (renews at midnight UTC)."
            ))),
            budget_daily: reg!(IntGauge::with_opts(o(
                "qoswatch_zoom_budget_daily_requests",
                "The configured daily Zoom API budget."
            ))),
        };
        let poller = PollerMetrics {
            poll_duration: reg!(Histogram::with_opts(
                HistogramOpts::new(
                    "qoswatch_poll_duration_seconds",
                    "Time to poll one meeting's QoS, all pages and retries."
                )
                .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
            )),
            stretch: reg!(Gauge::with_opts(o(
                "qoswatch_poll_cadence_stretch_ratio",
                "How much the cadence is stretched to stay within the daily budget (1 = not at all)."
            ))),
            delay: reg!(Gauge::with_opts(o(
                "qoswatch_zoom_publication_delay_seconds",
                "The learned delay between a QoS sample's time stamp and its appearance in the API."
            ))),
            meetings: reg!(IntGauge::with_opts(o(
                "qoswatch_meetings_polled",
                "Meetings being polled."
            ))),
            meetings_by_state: reg!(IntGaugeVec::new(
                o(
                    "qoswatch_meetings",
                    "Tracked meetings by state: hot (polled on every sample), quiet (polled every poll.quiet_every), qss (QoS pushed by Zoom, not polled)."
                ),
                &["state"]
            )),
        };
        let events = EventMetrics {
            events: reg!(IntCounterVec::new(
                o(
                    "qoswatch_zoom_events_total",
                    "Zoom event notifications received, by event (other: events qoswatch does not use) and outcome (processed, ignored, duplicate, malformed)."
                ),
                &["event", "outcome"]
            )),
            webhook_requests: reg!(IntCounterVec::new(
                o(
                    "qoswatch_zoom_webhook_requests_total",
                    "Requests to the Zoom event listener, by HTTP status answered."
                ),
                &["status"]
            )),
            websocket_up: reg!(IntGauge::with_opts(o(
                "qoswatch_zoom_websocket_up",
                "Whether the Zoom event WebSocket is connected (1) or not (0)."
            ))),
            websocket_connects: reg!(IntCounterVec::new(
                o(
                    "qoswatch_zoom_websocket_connects_total",
                    "Attempts to open the Zoom event WebSocket, by outcome (connected, failed)."
                ),
                &["outcome"]
            )),
        };
        let delivery = DeliveryMetrics {
            notifications: reg!(IntCounterVec::new(
                o(
                    "qoswatch_notifications_total",
                    "Notification attempts by notifier and outcome (delivered, retried, failed, dropped)."
                ),
                &["notifier", "outcome"]
            )),
            outbox: reg!(IntGaugeVec::new(
                o(
                    "qoswatch_outbox_messages",
                    "Messages waiting in the outbox, by notifier."
                ),
                &["notifier"]
            )),
            suppressed: reg!(IntCounterVec::new(
                o(
                    "qoswatch_notifications_suppressed_total",
                    "Alert notifications not sent because of notification policy, by reason (inhibited: held by a rule's inhibits; incident: held by an incident; muted/inactive: dropped by a route's time intervals, per notifier)."
                ),
                &["reason"]
            )),
        };
        let service = ServiceMetrics {
            samples: reg!(IntCounter::with_opts(o(
                "qoswatch_samples_processed_total",
                "QoS samples evaluated against the rules."
            ))),
            samples_rejected: reg!(IntCounterVec::new(
                o(
                    "qoswatch_samples_rejected_total",
                    "QoS samples ignored, by reason (future: dated more than 5 minutes ahead of the clock)."
                ),
                &["reason"]
            )),
            alerts_firing: reg!(IntGaugeVec::new(
                o(
                    "qoswatch_alerts_firing",
                    "Alerts firing now, by rule and severity."
                ),
                &["rule", "severity"]
            )),
            reload_success: reg!(IntGauge::with_opts(o(
                "qoswatch_rules_last_reload_success",
                "Whether the last rule reload succeeded (1) or kept the previous rules (0)."
            ))),
            reload_time: reg!(Gauge::with_opts(o(
                "qoswatch_rules_last_reload_timestamp_seconds",
                "Unix time of the last rule load or reload attempt."
            ))),
            rules_loaded: reg!(IntGauge::with_opts(o(
                "qoswatch_rules_loaded",
                "Rules in force."
            ))),
            source_up: reg!(IntGauge::with_opts(o(
                "qoswatch_source_up",
                "Whether the last poll or discovery succeeded (1) or failed (0)."
            ))),
            info: reg!(GaugeVec::new(
                o("qoswatch_build_info", "Build information; the value is 1."),
                &["version", "cadence"]
            )),
        };
        Metrics {
            registry,
            zoom,
            poller,
            events,
            delivery,
            service,
        }
    }

    /// The text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!("encoding metrics failed: {e}");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Unregistered handles, for a component built alone (tests, `once`).
macro_rules! standalone {
    ($($t:ident => $field:ident),*) => {$(
        impl Default for $t {
            fn default() -> Self {
                Metrics::new().$field
            }
        }
    )*};
}
standalone!(ZoomMetrics => zoom, PollerMetrics => poller, EventMetrics => events, DeliveryMetrics => delivery, ServiceMetrics => service);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_in_the_text_format() {
        let m = Metrics::new();
        m.zoom
            .requests
            .with_label_values(&["list_participants_qos", "200"])
            .inc();
        m.service
            .alerts_firing
            .with_label_values(&["lat\"ency", "critical"])
            .set(2);
        m.service.samples.inc_by(7);
        let text = m.render();
        assert!(
            text.contains("# TYPE qoswatch_zoom_requests_total counter"),
            "{text}"
        );
        assert!(
            text.contains(
                "qoswatch_zoom_requests_total{endpoint=\"list_participants_qos\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("qoswatch_samples_processed_total 7"),
            "{text}"
        );
        assert!(text.contains("rule=\"lat\\\"ency\""), "{text}");
    }
}
