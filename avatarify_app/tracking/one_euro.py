"""One Euro filter: an adaptive low-pass filter for noisy real-time signals.

Casiez, Roussel and Vogel, "1 Euro Filter" (CHI 2012): the cut-off frequency rises with the signal's
speed, so a still face stops jittering while a fast head turn lags little.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class OneEuroParams:
    """``min_cutoff`` (Hz): smoothing at rest, lower = steadier. ``beta``: how fast the cut-off rises
    with speed, higher = less lag. ``d_cutoff`` (Hz): smoothing of the speed estimate."""

    min_cutoff: float = 1.5
    beta: float = 0.05
    d_cutoff: float = 1.0


def _alpha(cutoff: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters an array signal element-wise; every call gives the time of its sample in seconds.

    Speed is taken per element, so each landmark adapts on its own.
    """

    def __init__(self, params: OneEuroParams) -> None:
        self.params = params
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._dx is None or self._t is None or self._x.shape != x.shape or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt
        a_d = _alpha(self.params.d_cutoff, dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        cutoff = self.params.min_cutoff + self.params.beta * np.abs(self._dx)
        tau = 1.0 / (2.0 * np.pi * cutoff)
        a = 1.0 / (1.0 + tau / dt)
        self._x = a * x + (1 - a) * self._x
        self._t = t
        return self._x.copy()
