"""The window must run for hours: paint events must not leak references to None, True or False.

PySide6 6.12.0 lost one reference to None (and to True/False) on every Python override of a virtual
method that C++ calls; at 60 paint events a second CPython aborted after about two minutes
(``none_dealloc``). The app pins a PySide6 without the leak and keeps Python overrides off the
per-frame paths (docs/gui.md); this test fails if either regresses.
"""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import wait_for_frames

PAINTS = 300
# Far below one lost reference per paint (PAINTS x panes); above the few that Qt's caches may keep.
TOLERANCE = 50


def _refcounts() -> dict[str, int]:
    gc.collect()
    return {"None": sys.getrefcount(None), "True": sys.getrefcount(True), "False": sys.getrefcount(False)}


def test_paint_events_of_the_window_keep_none_true_false_counts_flat(qtbot, make_window) -> None:
    window = make_window()
    wait_for_frames(qtbot, window, count=3)
    window.controller.stop(timeout=30.0)  # no worker threads touching the counts while we measure
    QApplication.processEvents()
    panes = (window.preview.camera_pane, window.preview.output_pane)
    image = panes[1].image()
    assert image is not None

    def paint_everything(i: int) -> None:
        # A new picture for the panes (what a frame does), then the whole window painted at once,
        # every widget's paint code run from C++, and now and then a resize.
        for pane in panes:
            pane.set_image(image)
        if i % 50 == 0:
            window.resize(window.size() + QSize(1 if i % 100 else -1, 0))
        window.repaint()
        QApplication.processEvents()

    for i in range(20):  # warm Qt's caches (fonts, pixmaps) first
        paint_everything(i)
    before = _refcounts()
    for i in range(PAINTS):
        paint_everything(i)
    after = _refcounts()

    drift = {name: after[name] - before[name] for name in before}
    assert all(abs(d) <= TOLERANCE for d in drift.values()), f"{drift} after {PAINTS} window paints"
