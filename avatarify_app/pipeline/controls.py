"""The engine's live controls (strength, eyes, mouth, head), eased to new values over a few frames."""

from __future__ import annotations

from avatarify_app.config import STRENGTHS
from avatarify_app.engines import Engine, EngineOptions

CONTROLS = STRENGTHS
RAMP_FRAMES = 6  # a new value is reached in this many frames (0.2 s at 30 fps): no jump, no lag felt


class ControlRamp:
    """Moves the engine's controls towards the settings' values in equal steps, one per frame.

    A slider or a key changes the target; ``apply`` runs before each ``animate`` and sets the engine's
    attributes, so the avatar never jumps. A new target while moving restarts the ramp from where it is.
    """

    def __init__(self, options: EngineOptions) -> None:
        self._value: dict[str, float] = {}
        self._target: dict[str, float] = {}
        self._step: dict[str, float] = {}
        self.reset(options)

    def set_target(self, options: EngineOptions) -> None:
        """Ease towards ``options``' controls from the values in effect now."""
        for name in CONTROLS:
            target = float(getattr(options, name))
            if target != self._target[name]:
                self._target[name] = target
                self._step[name] = abs(target - self._value[name]) / RAMP_FRAMES

    def reset(self, options: EngineOptions) -> None:
        """Jump to ``options``' controls (a new engine starts with them)."""
        self._value = {name: float(getattr(options, name)) for name in CONTROLS}
        self._target = dict(self._value)
        self._step = dict.fromkeys(CONTROLS, 0.0)

    @property
    def moving(self) -> bool:
        """Whether some control has not reached its target yet."""
        return self._value != self._target

    def apply(self, engine: Engine) -> None:
        """One frame's step, set on ``engine``."""
        for name in CONTROLS:
            value, target = self._value[name], self._target[name]
            if value != target:
                step = self._step[name]
                if abs(target - value) <= step + 1e-9:
                    value = target
                else:
                    value += step if target > value else -step
                self._value[name] = value
            setattr(engine, name, value)
