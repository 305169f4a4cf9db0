"""Importing OpenVINO and NNCF without their usage telemetry.

Importing ``openvino`` sends a usage event to Intel's analytics from a background thread unless the
user opted out with Intel's own tool (``openvino_telemetry``; NNCF does the same when it quantizes).
The app does not send data about its users anywhere: both packages fall back to a no-op when
``openvino_telemetry`` cannot be imported, which a ``None`` entry in ``sys.modules`` arranges. Import
OpenVINO and NNCF only through these functions.
"""

from __future__ import annotations

import sys
from types import ModuleType


def _no_telemetry() -> None:
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]  # None: "cannot import"


def import_openvino() -> ModuleType:
    """The ``openvino`` module (raises ``ImportError`` when it is not installed)."""
    _no_telemetry()
    import openvino

    return openvino


def import_nncf() -> ModuleType:
    """The ``nncf`` module, for int8 quantization (raises ``ImportError`` when not installed)."""
    _no_telemetry()
    import nncf

    return nncf
