"""The record every diagnostic returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.StrEnum):
    """``fail`` blocks the main job (animating an avatar in the app); ``warn`` limits it."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor's report.

    ``name``: what was checked ("cameras"); ``detail``: what was found, one or two sentences;
    ``fix``: what the user can do about a warn or fail (a command where there is one), else "".
    """

    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status.value, "detail": self.detail, "fix": self.fix}
