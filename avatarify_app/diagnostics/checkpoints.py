"""The FOMM checkpoints in the models folder, checked against the registry's md5."""

from __future__ import annotations

import logging
from pathlib import Path

from avatarify_app.diagnostics.check import Check, Status
from avatarify_app.errors import AvatarifyError
from avatarify_app.modelstore import ModelEntry, ModelStatus, default_models_dir, inspect_model, load_registry

logger = logging.getLogger(__name__)


def check_checkpoints(models_dir: Path | None = None, registry: Path | None = None) -> list[Check]:
    """One check per registry entry. Files present are hashed (about 1 s per 228 MB).

    A missing checkpoint is a warning only while no registered checkpoint is present: the fomm engine
    needs one of them, and the mesh engine none.
    """
    models_dir = default_models_dir(models_dir)
    try:
        entries = load_registry(registry)
    except AvatarifyError as exc:
        return [
            Check("checkpoints", Status.WARN, str(exc), "reinstall the app: models/registry.yaml is missing")
        ]
    statuses = [inspect_model(entry, models_dir) for entry in entries]
    any_present = any(s.present and s.md5_ok is not False for s in statuses)
    checks = [_check_one(s, any_present) for s in statuses]
    known = {e.file for e in entries}
    strays = sorted(p.name for p in models_dir.glob("*.pth*") if p.name not in known and p.is_file())
    if strays:
        checks.append(
            Check(
                "checkpoints",
                Status.WARN,
                f"not in the registry, so not used: {', '.join(strays)} in {models_dir}",
                "avatarify models import PATH --name NAME (checks the file and gives it the registry's name)",
            )
        )
    return checks


def _check_one(status: ModelStatus, any_present: bool) -> Check:
    entry = status.entry
    name = f"checkpoint {entry.name}"
    if not status.present:
        detail = f"{entry.file} not found in {status.path.parent}"
        if any_present:
            return Check(name, Status.OK, f"{detail} (optional: another checkpoint is present)")
        return Check(
            name,
            Status.WARN,
            f"{detail}: the fomm engine needs it (or another registered checkpoint); the mesh engine does "
            "not",
            _get_it(entry),
        )
    if status.md5_ok is False:
        return Check(
            name,
            Status.WARN,
            f"{status.path} does not match the registry's md5 {entry.md5}: damaged, or another form of "
            "the file",
            f"check that it loads: avatarify models import {status.path}; or get it again: {_get_it(entry)}",
        )
    if status.md5_ok:
        return Check(name, Status.OK, f"{status.path} (md5 ok)")
    return Check(name, Status.OK, f"{status.path} (no md5 in the registry: not checked)")


def _get_it(entry: ModelEntry) -> str:
    licence = f"licence: {entry.licence}"
    if entry.urls:
        size = f"about {entry.approx_mb:.0f} MB; " if entry.approx_mb else ""
        return f"avatarify models fetch {entry.name} ({size}{licence})"
    return f"download {entry.file} yourself ({licence}), then: avatarify models import PATH"
