//! Logs and metrics: the tracing subscriber (text or JSON lines on stderr)
//! and the Prometheus counters behind `/metrics`.
//!
//! The metrics are a handful of labelled counters and one latency histogram,
//! kept in mutex-guarded maps and rendered in the Prometheus text format by
//! hand: a metrics framework would bring a global recorder (awkward with
//! several servers in one test process) for no gain at this size.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global tracing subscriber (`RUST_LOG` filters, default
/// `info`). A second call (tests starting several servers) keeps the first.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _already_installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Upper bounds (seconds) of the request latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    /// Count per bucket of LATENCY_BUCKETS (not cumulative; rendered so).
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(index) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[index] += 1;
        }
        self.count += 1;
        self.sum_seconds += seconds;
    }
}

/// The server's counters. One per server (in [`crate::app::AppState`]).
#[derive(Default)]
pub struct Metrics {
    /// (method, route, status) → requests.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// route → latency.
    latency: Mutex<BTreeMap<String, Histogram>>,
    /// outcome (`accepted`, `inventory-required`, `refused`) → check-ins.
    checkins: Mutex<BTreeMap<&'static str, u64>>,
    /// outcome (`accepted`, `refused`) → enrolments.
    enrolments: Mutex<BTreeMap<&'static str, u64>>,
    inventories_stored: Mutex<u64>,
    node_evaluations: Mutex<u64>,
    fleet_reevaluations: Mutex<Histogram>,
}

/// Gauges read from the store at scrape time.
pub struct Gauges {
    pub nodes: u64,
}

impl Metrics {
    pub fn record_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests
                .entry((method.to_string(), route.to_string(), status))
                .or_default() += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            latency
                .entry(route.to_string())
                .or_default()
                .observe(elapsed.as_secs_f64());
        }
    }

    pub fn record_checkin(&self, outcome: &'static str) {
        if let Ok(mut checkins) = self.checkins.lock() {
            *checkins.entry(outcome).or_default() += 1;
        }
    }

    pub fn record_enrolment(&self, outcome: &'static str) {
        if let Ok(mut enrolments) = self.enrolments.lock() {
            *enrolments.entry(outcome).or_default() += 1;
        }
    }

    pub fn record_inventory_stored(&self) {
        if let Ok(mut stored) = self.inventories_stored.lock() {
            *stored += 1;
        }
    }

    pub fn record_node_evaluation(&self) {
        if let Ok(mut evaluations) = self.node_evaluations.lock() {
            *evaluations += 1;
        }
    }

    pub fn record_fleet_reevaluation(&self, elapsed: Duration) {
        if let Ok(mut histogram) = self.fleet_reevaluations.lock() {
            histogram.observe(elapsed.as_secs_f64());
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP patchline_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE patchline_http_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((method, route, status), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "patchline_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
                    escape(method),
                    escape(route)
                );
            }
        }
        out.push_str(
            "# HELP patchline_http_request_duration_seconds HTTP request latency by route.\n",
        );
        out.push_str("# TYPE patchline_http_request_duration_seconds histogram\n");
        if let Ok(latency) = self.latency.lock() {
            for (route, histogram) in latency.iter() {
                let label = format!("route=\"{}\"", escape(route));
                render_histogram(
                    &mut out,
                    "patchline_http_request_duration_seconds",
                    &label,
                    histogram,
                );
            }
        }
        out.push_str("# HELP patchline_checkins_total Agent check-ins by outcome.\n");
        out.push_str("# TYPE patchline_checkins_total counter\n");
        if let Ok(checkins) = self.checkins.lock() {
            for (outcome, count) in checkins.iter() {
                let _ = writeln!(
                    out,
                    "patchline_checkins_total{{outcome=\"{outcome}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP patchline_enrolments_total Agent enrolments by outcome.\n");
        out.push_str("# TYPE patchline_enrolments_total counter\n");
        if let Ok(enrolments) = self.enrolments.lock() {
            for (outcome, count) in enrolments.iter() {
                let _ = writeln!(
                    out,
                    "patchline_enrolments_total{{outcome=\"{outcome}\"}} {count}"
                );
            }
        }
        let stored = self.inventories_stored.lock().map(|n| *n).unwrap_or(0);
        out.push_str("# HELP patchline_inventories_stored_total Inventories uploaded that the server had not seen.\n");
        out.push_str("# TYPE patchline_inventories_stored_total counter\n");
        let _ = writeln!(out, "patchline_inventories_stored_total {stored}");
        let evaluations = self.node_evaluations.lock().map(|n| *n).unwrap_or(0);
        out.push_str(
            "# HELP patchline_node_evaluations_total Compliance evaluations after a check-in.\n",
        );
        out.push_str("# TYPE patchline_node_evaluations_total counter\n");
        let _ = writeln!(out, "patchline_node_evaluations_total {evaluations}");
        out.push_str("# HELP patchline_fleet_reevaluation_duration_seconds Fleet compliance re-evaluations.\n");
        out.push_str("# TYPE patchline_fleet_reevaluation_duration_seconds histogram\n");
        if let Ok(histogram) = self.fleet_reevaluations.lock() {
            render_histogram(
                &mut out,
                "patchline_fleet_reevaluation_duration_seconds",
                "",
                &histogram,
            );
        }
        out.push_str("# HELP patchline_nodes Enrolled nodes.\n");
        out.push_str("# TYPE patchline_nodes gauge\n");
        let _ = writeln!(out, "patchline_nodes {}", gauges.nodes);
        out
    }
}

fn render_histogram(out: &mut String, name: &str, labels: &str, histogram: &Histogram) {
    let separator = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0;
    for (bound, count) in LATENCY_BUCKETS.iter().zip(histogram.buckets) {
        cumulative += count;
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{separator}le=\"{bound}\"}} {cumulative}"
        );
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {}",
        histogram.count
    );
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braces} {}", histogram.sum_seconds);
    let _ = writeln!(out, "{name}_count{braces} {}", histogram.count);
}

/// Escapes a label value (backslash, quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.record_request("GET", "/api/v1/nodes", 200, Duration::from_millis(3));
        metrics.record_request("GET", "/api/v1/nodes", 200, Duration::from_millis(30));
        metrics.record_checkin("accepted");
        let text = metrics.render(&Gauges { nodes: 7 });
        assert!(text.contains(
            "patchline_http_requests_total{method=\"GET\",route=\"/api/v1/nodes\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "patchline_http_request_duration_seconds_bucket{route=\"/api/v1/nodes\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "patchline_http_request_duration_seconds_bucket{route=\"/api/v1/nodes\",le=\"0.05\"} 2"
        ));
        assert!(text.contains("patchline_checkins_total{outcome=\"accepted\"} 1"));
        assert!(text.contains("patchline_fleet_reevaluation_duration_seconds_count 0"));
        assert!(text.contains("patchline_nodes 7"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
