"""Help dialogs: the keyboard shortcuts, and the diagnostics report (``avatarify doctor``)."""

from __future__ import annotations

import html
import logging
import threading

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QScrollArea, QVBoxLayout, QWidget

from avatarify_app.gui.shortcuts import HELP_ROWS

logger = logging.getLogger(__name__)

_STATUS_COLOURS = {"ok": "#3a9a5b", "warn": "#c77d00", "fail": "#c0392b"}


class ShortcutsDialog(QDialog):
    """Help → Keyboard shortcuts: every key and what it does."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = "".join(
            f"<tr><td style='padding:2px 14px 2px 0'><b>{html.escape(keys)}</b></td>"
            f"<td>{html.escape(text)}</td></tr>"
            for keys, text in HELP_ROWS
        )
        self.label = QLabel(f"<table>{rows}</table>")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(buttons)


class DiagnosticsDialog(QDialog):
    """Help → Diagnostics: runs ``doctor.run_checks`` on the ``gui-diagnostics`` thread (it takes a few
    seconds) and shows each check with its status and fix. Devices the live pipeline holds are not
    probed, or they would read as busy."""

    report_ready = Signal(str)
    """The report as HTML, once the checks are done (emitted from the worker thread)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Diagnostics")
        self.resize(640, 480)
        self.label = QLabel("Checking this computer…")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)
        self.report_ready.connect(self.label.setText)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run the checks in the background; the label fills in when they are done."""
        from avatarify_app.diagnostics.doctor import run_checks  # imported when asked: it loads a lot

        self._thread = threading.Thread(
            target=self._run, args=(run_checks,), name="gui-diagnostics", daemon=True
        )
        self._thread.start()

    def join(self, timeout: float) -> bool:
        """Wait for the checks to finish (tests); True when they have."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _run(self, run_checks) -> None:
        try:
            checks = run_checks(probe_devices=False)
            text = format_report(checks)
        except Exception as exc:  # the report itself must not take the window down
            logger.exception("diagnostics failed")
            text = html.escape(f"The diagnostics failed: {type(exc).__name__}: {exc}")
        try:
            self.report_ready.emit(text)
        except RuntimeError:  # the dialog was closed and deleted meanwhile
            logger.debug("diagnostics finished after their dialog closed")


def format_report(checks: list) -> str:
    """HTML table of ``Check`` records (name, status, detail, fix)."""
    rows = []
    for check in checks:
        status = str(getattr(check.status, "value", check.status))
        colour = _STATUS_COLOURS.get(status, "#888888")
        fix = f"<br><i>Fix: {html.escape(check.fix)}</i>" if check.fix else ""
        rows.append(
            f"<tr><td style='padding:3px 10px 3px 0; color:{colour}'><b>{status.upper()}</b></td>"
            f"<td style='padding:3px 10px 3px 0'><b>{html.escape(check.name)}</b></td>"
            f"<td style='padding:3px 0'>{html.escape(check.detail)}{fix}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"
