"""What works on this computer and what to fix: the checks behind ``avatarify doctor`` and the GUI's
Help -> Diagnostics.

``run_checks()`` returns one ``Check(name, status, detail, fix)`` per finding. A ``fail`` blocks the
main job (animating an avatar in the app: OpenCV, MediaPipe's FaceMesh, PySide6); a ``warn`` limits
it (no camera: demo motion; no virtual camera; no GPU; no checkpoint: mesh engine only).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from avatarify_app.diagnostics import devices, runtime
from avatarify_app.diagnostics.check import Check, Status
from avatarify_app.diagnostics.checkpoints import check_checkpoints
from avatarify_app.diagnostics.cpu import check_cpu_features, check_fomm_runtime
from avatarify_app.diagnostics.desktop import check_display, check_qt
from avatarify_app.diagnostics.engines import check_engines
from avatarify_app.diagnostics.tracking import check_face_mesh_models, check_face_mesh_run, check_opencv

logger = logging.getLogger(__name__)

__all__ = ["Check", "Status", "blocking", "run_checks"]


def run_checks(models_dir: Path | None = None, *, probe_devices: bool = True) -> list[Check]:
    """Run every check in report order and return the findings; never raises.

    ``models_dir``: where to look for checkpoints (default as ``avatarify models``). ``probe_devices``:
    open the cameras and the virtual camera for a moment; pass False while the app's own pipeline
    holds them, or they read as busy. Takes a few seconds (torch and MediaPipe imports, one FaceMesh
    run, device probes): call it off the GUI thread.
    """
    steps: list[tuple[str, Callable[[], Check | Iterable[Check]]]] = [
        ("python", runtime.check_python),
        ("opencv", check_opencv),
        ("torch", runtime.check_torch),
        ("compute device", runtime.check_compute_device),
        ("cpu", check_cpu_features),
        ("fomm runtime", check_fomm_runtime),
        ("face tracking models", check_face_mesh_models),
        ("face tracking run", check_face_mesh_run),
        ("gui toolkit", check_qt),
        ("display", check_display),
    ]
    if probe_devices:
        steps += [("cameras", devices.check_cameras), ("virtual camera", devices.check_virtual_camera)]
    steps += [
        ("microphones", devices.check_microphones),
        ("recording", runtime.check_recording),
        ("checkpoints", functools.partial(check_checkpoints, models_dir)),
        ("engines", check_engines),
    ]
    checks: list[Check] = []
    for name, step in steps:
        try:
            result = step()
        except Exception as exc:  # a check that crashes is itself a finding; the report goes on
            logger.exception("the %s check crashed", name)
            checks.append(Check(name, Status.FAIL, f"the check itself failed: {type(exc).__name__}: {exc}"))
            continue
        checks.extend([result] if isinstance(result, Check) else result)
    for check in checks:
        logger.info("doctor: %s %s: %s", check.status.value, check.name, check.detail)
    return checks


def blocking(checks: Iterable[Check]) -> list[Check]:
    """The checks that stop the main job (status ``fail``)."""
    return [c for c in checks if c.status is Status.FAIL]
