"""The engines there are (the engine catalog), each with what it needs and whether it has it here."""

from __future__ import annotations

from avatarify_app.diagnostics.check import Check, Status
from avatarify_app.errors import AvatarifyError
from avatarify_app.modelstore import resolve_files
from avatarify_app.pipeline.engine_setup import Needs, entries


def check_engines() -> list[Check]:
    """One line per catalog engine: its tip, and for an engine that needs files whether the models
    folder has them (a warning saying where to put them when not; the engine can still be given a
    file on the command line or in the window)."""
    checks = []
    for info in entries():
        name = f"engine {info.name}"
        if info.needs is Needs.NOTHING:
            checks.append(Check(name, Status.OK, f"{info.label}: {info.tip}"))
            continue
        try:
            choice = resolve_files(info.choice())
        except AvatarifyError as exc:
            checks.append(
                Check(
                    name,
                    Status.WARN,
                    f"{info.label}: {info.tip}; {exc}",
                    "give it one with --checkpoint PATH",
                )
            )
            continue
        found = getattr(choice, "checkpoint", None)
        checks.append(Check(name, Status.OK, f"{info.label}: {info.tip}; uses {found}"))
    return checks
