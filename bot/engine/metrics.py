"""Prometheus metrics, registered on a registry of the app's own (never the global one)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "forgebot_deliveries_received", "Deliveries stored, by platform and event", ["platform", "event"], registry=r
        )
        self.duplicates = Counter("forgebot_deliveries_duplicate", "Deliveries already stored", ["platform"], registry=r)
        self.rejected = Counter("forgebot_deliveries_rejected", "Requests refused, by reason", ["platform", "reason"], registry=r)
        self.processed = Counter(
            "forgebot_deliveries_processed", "Deliveries finished, by outcome", ["platform", "event", "outcome"], registry=r
        )
        self.retries = Counter("forgebot_delivery_retries", "Failed attempts scheduled for a retry", ["platform", "event"], registry=r)
        self.dead_letters = Counter("forgebot_dead_letters", "Deliveries given up on", ["platform", "event"], registry=r)
        self.intake_seconds = Histogram(
            "forgebot_intake_seconds", "Time to verify and store a delivery", buckets=LATENCY_BUCKETS, registry=r
        )
        self.processing_seconds = Histogram(
            "forgebot_processing_seconds", "Time handlers took for one delivery", ["platform"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.lag_seconds = Histogram(
            "forgebot_delivery_lag_seconds", "From receipt to finished processing", buckets=LATENCY_BUCKETS, registry=r
        )
        self.job_runs = Counter("forgebot_job_runs", "Scheduled job runs, by outcome", ["job", "outcome"], registry=r)
        self.reconcile_runs = Counter(
            "forgebot_reconcile_runs", "Repository reconciles, by trigger and outcome", ["platform", "trigger", "outcome"], registry=r
        )
        self.drifted = Gauge("forgebot_repositories_drifted", "Repositories whose last scheduled run found drift", registry=r)
        self.queue_depth = Gauge("forgebot_queue_depth", "Deliveries stored and not yet finished", registry=r)
        # Which named leases (scheduler, worktrees) this replica holds; no replica names (unauthenticated).
        self.lease_held = Gauge("forgebot_lease_held", "1 while this replica holds the named lease", ["lease"], registry=r)
        self.lease_changes = Counter("forgebot_lease_changes", "This replica gaining or losing a named lease", ["lease", "change"], registry=r)
        # Hot path: label children cached per (platform, event) instead of looked up per request.
        self._received_children: dict[tuple[str, str], Callable[[], None]] = {}

    def observe_intake(self, platform: str, event: str, outcome: str, seconds: float) -> None:
        if outcome == "accepted":
            key = (platform, event)
            inc = self._received_children.get(key)
            if inc is None:
                inc = self._received_children[key] = self.received.labels(platform, event).inc
            inc()
            self.intake_seconds.observe(seconds)
        elif outcome == "duplicate":
            self.duplicates.labels(platform).inc()
        elif outcome.startswith("rejected:"):
            self.rejected.labels(platform, outcome.removeprefix("rejected:")).inc()
