"""Live figures: counters the stages feed, turned into ``Metrics`` about once a second."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from avatarify_app.pipeline.events import Metrics

# Latencies kept for ``totals()`` (about an hour at 30 fps); older ones are forgotten. They live in a
# ring of fixed size, written in full when created, so a long run's memory stays flat (a deque of
# tuples grew by about 0.2 MB a minute until it was full).
MAX_LATENCIES = 100_000


@dataclass(frozen=True, slots=True)
class RunTotals:
    """Figures since start: frames in, frames out (``fresh`` = not repeats), drops, latency in ms."""

    frames_in: int
    frames_out: int
    fresh_out: int
    dropped_frames: int
    latency_p50_ms: float
    latency_p95_ms: float
    duration_s: float


class PipelineStats:
    """Thread-safe counters. Each stage reports its own events; ``snapshot`` reads a window."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._t_start = time.monotonic()
        self._t_window = self._t_start
        self._window_in = 0
        self._window_out = 0
        self._window_infer_ms: list[float] = []
        self._window_latency_ms: list[float] = []
        self._all_latency_ms = _Ring(MAX_LATENCIES)  # (t_output, ms) of fresh frames
        self._frames_in = 0
        self._frames_out = 0
        self._fresh_out = 0
        self._dropped = 0
        self._face_found = False
        self._last_infer_ms = 0.0

    @property
    def last_inference_ms(self) -> float:
        """How long the latest inference step took (0 before the first)."""
        with self._lock:
            return self._last_infer_ms

    def count_input(self) -> None:
        with self._lock:
            self._frames_in += 1
            self._window_in += 1

    def count_dropped(self, n: int = 1) -> None:
        with self._lock:
            self._dropped += n

    def record_inference(self, duration_ms: float, face_found: bool) -> None:
        with self._lock:
            self._window_infer_ms.append(duration_ms)
            self._last_infer_ms = duration_ms
            self._face_found = face_found

    def record_output(self, latency_ms: float | None, t_output: float | None = None) -> None:
        """One frame written to the sinks; ``latency_ms`` (capture to output) for fresh frames only."""
        t_output = time.monotonic() if t_output is None else t_output
        with self._lock:
            self._frames_out += 1
            self._window_out += 1
            if latency_ms is not None:
                self._fresh_out += 1
                self._window_latency_ms.append(latency_ms)
                self._all_latency_ms.append(t_output, latency_ms)

    def snapshot(self, now: float | None = None) -> Metrics:
        """Figures since the previous snapshot (rates per second) and drops since start."""
        now = time.monotonic() if now is None else now
        with self._lock:
            elapsed = max(now - self._t_window, 1e-6)
            p50, p95 = _percentiles(self._window_latency_ms)
            metrics = Metrics(
                input_fps=self._window_in / elapsed,
                output_fps=self._window_out / elapsed,
                engine_fps=len(self._window_infer_ms) / elapsed,
                inference_ms=float(np.mean(self._window_infer_ms)) if self._window_infer_ms else 0.0,
                latency_p50_ms=p50,
                latency_p95_ms=p95,
                dropped_frames=self._dropped,
                face_found=self._face_found,
            )
            self._t_window = now
            self._window_in = self._window_out = 0
            self._window_infer_ms = []
            self._window_latency_ms = []
            return metrics

    def totals(self, since: float | None = None) -> RunTotals:
        """Counts since start; latency percentiles over fresh frames output after ``since``
        (``time.monotonic()``; None: since start, at most the last ``MAX_LATENCIES`` frames)."""
        with self._lock:
            p50, p95 = _percentiles(self._all_latency_ms.values_since(since))
            return RunTotals(
                frames_in=self._frames_in,
                frames_out=self._frames_out,
                fresh_out=self._fresh_out,
                dropped_frames=self._dropped,
                latency_p50_ms=p50,
                latency_p95_ms=p95,
                duration_s=time.monotonic() - self._t_start,
            )


class _Ring:
    """The last ``size`` (time, value) pairs in two preallocated float64 arrays."""

    def __init__(self, size: int) -> None:
        self._t = np.full(size, -np.inf)  # np.full writes every page now: no growth later
        self._v = np.full(size, np.nan)
        self._next = 0

    def append(self, t: float, value: float) -> None:
        i = self._next % len(self._t)
        self._t[i], self._v[i] = t, value
        self._next += 1

    def values_since(self, since: float | None) -> np.ndarray:
        """The values stored at times ``>= since`` (all of them for None)."""
        kept = self._v[: min(self._next, len(self._v))]
        return kept if since is None else kept[self._t[: len(kept)] >= since]


def _percentiles(values: list[float] | np.ndarray) -> tuple[float, float]:
    if not len(values):
        return 0.0, 0.0
    p50, p95 = np.percentile(values, [50, 95])
    return float(p50), float(p95)
