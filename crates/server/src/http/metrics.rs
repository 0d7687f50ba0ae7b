//! `GET /metrics`: Prometheus text format. Requests and latencies by route,
//! method and status, open connections and the ones refused or timed out,
//! live push sockets and why sockets closed, how sends were decided, and how
//! the list cache is doing.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use yhconv_proto::CloseReason;

use super::conn::Refusal;
use super::AppState;
use crate::service::Service;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The server's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    sockets: Gauge,
    connections: Gauge,
    refused: Family<ReasonLabels, Counter>,
    header_timeouts: Counter,
    socket_closes: Family<ReasonLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 50 µs to about 1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

impl Metrics {
    /// A fresh registry with every metric registered; `service` is asked
    /// about its caches at each scrape.
    pub fn new(service: &Service) -> Arc<Self> {
        let mut registry = Registry::with_prefix("yhconv");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        let sockets = Gauge::default();
        registry.register("http_requests", "HTTP requests answered, by route, method and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer, by route and method", latency.clone());
        registry.register("push_sockets", "Logged-in push sockets on this instance", sockets.clone());
        let connections = Gauge::default();
        let refused = Family::<ReasonLabels, Counter>::default();
        let header_timeouts = Counter::default();
        let socket_closes = Family::<ReasonLabels, Counter>::default();
        registry.register("connections_open", "TCP connections open, push sockets included", connections.clone());
        registry.register(
            "connections_refused",
            "Connections refused: total or per_address cap reached",
            refused.clone(),
        );
        registry.register(
            "http_header_timeouts",
            "Connections closed because a request's headers did not arrive in time (or idled past it)",
            header_timeouts.clone(),
        );
        registry.register(
            "push_socket_closes",
            "Push sockets ended, by reason (client: the client left or the socket broke)",
            socket_closes.clone(),
        );
        registry.register_collector(Box::new(ServiceCollector(service.clone())));
        registry.register_collector(Box::new(PushCollector(service.clone())));
        Arc::new(Self { registry, requests, latency, sockets, connections, refused, header_timeouts, socket_closes })
    }

    /// Counts a connection refused at a cap.
    pub fn connection_refused(&self, refusal: Refusal) {
        self.refused.get_or_create(&ReasonLabels { reason: refusal.label().to_owned() }).inc();
    }

    /// Counts a connection closed by the header deadline.
    pub fn header_timed_out(&self) {
        self.header_timeouts.inc();
    }

    /// Counts a push socket's end: the reason the server closed it, or
    /// `None` when the client left.
    pub fn socket_closed(&self, reason: Option<CloseReason>) {
        let reason = reason.map_or("client", CloseReason::reason).replace(' ', "_");
        self.socket_closes.get_or_create(&ReasonLabels { reason }).inc();
    }
}

/// The service's figures, read at each scrape: how sends were decided, and
/// the list cache's (nothing of those when lists are not cached).
struct ServiceCollector(Service);

impl std::fmt::Debug for ServiceCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceCollector")
    }
}

impl Collector for ServiceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sends = self.0.send_target_stats();
        let counters = [
            (
                "send_targets_found_kept",
                "Sends that found their chat, and the sender's gag there, kept from the sender's last send into it",
                sends.kept,
            ),
            (
                "sends_decided_again",
                "Sends refused by the store because what they were decided on had changed, then decided again",
                sends.decided_again,
            ),
        ];
        encode_figures(&mut encoder, &counters, &[])?;
        let Some(stats) = self.0.list_cache_stats() else {
            return Ok(());
        };
        let clock = self.0.list_clock_stats();
        let counters = [
            (
                "list_clock_at_hand",
                "List requests that learned the list clock with no round trip (a list lease)",
                clock.at_hand,
            ),
            ("list_clock_reads", "List requests that learned the list clock from the database", clock.read),
            ("list_cache_hits", "Lists answered from memory", stats.hits),
            ("list_cache_patches", "Lists put back together after reading only their changed rows", stats.patches),
            ("list_cache_misses", "Lists read whole from the database", stats.misses),
        ];
        let gauges = [
            ("list_cache_entries", "Lists kept in memory", stats.entries),
            ("list_cache_bytes", "Memory the kept lists weigh, bytes", stats.bytes),
        ];
        encode_figures(&mut encoder, &counters, &gauges)?;
        if let Some(sends) = self.0.send_batch_stats() {
            let counters = [
                ("send_batches", "Transactions that stored several sends into one chat together", sends.batches),
                (
                    "sends_batched",
                    "Sends stored together with others into one chat, in one transaction",
                    sends.messages,
                ),
            ];
            let gauges = [
                ("sends_waiting", "Sends waiting for a transaction of their chat under way", sends.waiting),
                ("sends_storing", "Sends in a transaction under way, not answered yet", sends.storing),
            ];
            encode_figures(&mut encoder, &counters, &gauges)?;
        }
        if let Some(waits) = self.0.lease_wait_stats() {
            let counters = [
                (
                    "list_lease_waits",
                    "List changes answered only once the other instances holding list leases said they had them",
                    waits.changes,
                ),
                (
                    "list_lease_run_outs",
                    "Holders of list leases waited for until their lease ran out (an instance gone or stuck)",
                    waits.ran_out,
                ),
            ];
            encode_figures(&mut encoder, &counters, &[])?;
            let seconds = ConstCounter::new(waits.seconds);
            let help = "Time list changes waited for other instances' list leases, in all";
            seconds.encode(encoder.encode_descriptor(
                "list_lease_wait_seconds",
                help,
                None,
                seconds.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

/// Writes figures read at a scrape: `(name, help, value)` counters, then gauges.
fn encode_figures(
    encoder: &mut DescriptorEncoder,
    counters: &[(&str, &str, u64)],
    gauges: &[(&str, &str, u64)],
) -> Result<(), std::fmt::Error> {
    for &(name, help, value) in counters {
        let counter = ConstCounter::new(value);
        counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
    }
    for &(name, help, value) in gauges {
        let gauge = ConstGauge::new(value as i64);
        gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
    }
    Ok(())
}

/// The push hub's figures and the group purges running, read at each scrape.
struct PushCollector(Service);

impl std::fmt::Debug for PushCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushCollector")
    }
}

impl Collector for PushCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.push_stats();
        let index = self.0.online_groups_sizes();
        let read = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
        let counters = [
            ("push_frames_delivered", "Push frames put in sockets' queues", read(&stats.frames_delivered)),
            (
                "push_sockets_dropped",
                "Push sockets closed because their queue was full (too far behind)",
                read(&stats.sockets_dropped),
            ),
            (
                "push_sends_slowed",
                "Sends that waited because their chat's pushes lagged behind",
                read(&stats.sends_slowed),
            ),
        ];
        let gauges = [
            ("push_events_queued", "Events from the store waiting for the push hub", read(&stats.events_queued)),
            (
                "push_events_pending",
                "Events taken in by the push hub, waiting for their turn",
                read(&stats.events_pending),
            ),
            ("push_frames_pending", "Push frames of loaded messages not yet delivered", read(&stats.frames_pending)),
            (
                "push_online_users_indexed",
                "Online users whose groups the push hub indexes (loaded or not yet)",
                index.users as u64,
            ),
            (
                "push_online_users_stale",
                "Online users whose groups the push hub has not loaded yet (looked up per group message)",
                index.stale as u64,
            ),
            (
                "group_purges_running",
                "Dismissed groups whose member rows are being deleted, in batches, on this instance",
                self.0.purges_running(),
            ),
        ];
        encode_figures(&mut encoder, &counters, &gauges)
    }
}

/// Middleware: counts and times every routed request.
pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let response = next.run(request).await;
    let metrics = &state.metrics;
    let status = response.status().as_u16();
    metrics.requests.get_or_create(&RequestLabels { method: method.clone(), route: route.clone(), status }).inc();
    metrics.latency.get_or_create(&RouteLabels { method, route }).observe(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`: every metric, in Prometheus text format.
pub async fn metrics_route(State(state): State<AppState>) -> Response {
    state.metrics.sockets.set(state.service.socket_count() as i64);
    state.metrics.connections.set(state.connections.open() as i64);
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &state.metrics.registry) {
        tracing::error!(error = %e, "encoding metrics");
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}
