"""Stop requests from outside: Ctrl+C (SIGINT), SIGTERM (``kill``, service managers) and SIGHUP (the
terminal closed) all stop a command the same way, so work in progress (a recording, a render) is
finished or put aside as the command says.

The handlers are installed explicitly rather than relying on Python's default ``KeyboardInterrupt``:
Python keeps SIGINT ignored when it was ignored at start (a process started in the background by a
script or CI runner), and then Ctrl+C-style stops never reach the command. SIGHUP is left alone when
it is ignored at start (``nohup``), as the user asked.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

StopCallback = Callable[[int], None]


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop_signals() -> list[signal.Signals]:
    found = [signal.SIGINT, signal.SIGTERM]
    sighup = getattr(signal, "SIGHUP", None)  # not on Windows
    if sighup is not None and signal.getsignal(sighup) is not signal.SIG_IGN:
        found.append(sighup)
    return found


@contextlib.contextmanager
def stop_on_signals(on_stop: StopCallback | None = None) -> Iterator[None]:
    """Within the block, the first stop signal calls ``on_stop(signum)`` or, when it is None, raises
    ``Interrupted`` in the main thread; later signals are ignored while the command winds down.

    Python runs signal handlers in the main thread between bytecodes, so a main thread that waits must
    wait with a timeout (a loop of ``Event.wait(0.2)``), never block for good. Outside the main thread
    this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        if on_stop is None:
            raise Interrupted(signum)
        on_stop(signum)

    previous = {sig: signal.signal(sig, handler) for sig in _stop_signals()}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
