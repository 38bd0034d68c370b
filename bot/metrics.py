"""Prometheus metrics, on a registry of the app's own (no global singletons)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self, instance: str | None = None) -> None:
        # Every sample carries the process's name, so several processes' figures stay apart.
        self.instance = instance
        self.registry = CollectorRegistry()
        self.tasks = Gauge("mjbot_tasks", "Tasks in the store by state", ["state"], registry=self.registry)
        self.provider_requests = Counter(
            "mjbot_provider_requests",
            "Requests to the provider by call and outcome (ok, http_429, timeout, ...)",
            ["provider", "call", "outcome"],
            registry=self.registry,
        )
        self.engine_lag = Gauge(
            "mjbot_engine_lag_seconds",
            "How late the engine is on its most overdue check",
            registry=self.registry,
        )
        self.provider_paused = Gauge(
            "mjbot_provider_paused",
            "1 while requests to the provider are paused (429, maintenance)",
            registry=self.registry,
        )
        self.status_reads = Histogram(
            "mjbot_status_reads_per_task",
            "Provider status reads a task needed before it finished",
            buckets=(1, 2, 3, 5, 8, 13, 21, 34, 55),
            registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "mjbot_delivery_seconds",
            "From a task finishing at the provider to its message in the channel",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.interaction_ack_seconds = Histogram(
            "mjbot_interaction_ack_seconds",
            "From an interaction's creation to the bot's acknowledgement",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3),
            registry=self.registry,
        )

    def observe_request(self, provider: str, call: str, outcome: str) -> None:
        self.provider_requests.labels(provider, call, outcome).inc()

    def set_task_counts(self, counts: dict[str, int]) -> None:
        for state, count in counts.items():
            self.tasks.labels(state).set(count)

    def render(self) -> bytes:
        text = generate_latest(self.registry)
        if self.instance is None:
            return text
        label = f'instance="{_escape(self.instance)}"'
        lines = []
        for line in text.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, rest = line.partition(" ")
                if "{" in name:
                    line = (
                        f"{name[:-1]},{label}}} {rest}"
                        if not name.endswith("{}")
                        else f"{name[:-2]}{{{label}}} {rest}"
                    )
                else:
                    line = f"{name}{{{label}}} {rest}"
            lines.append(line)
        return ("\n".join(lines) + "\n").encode()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
