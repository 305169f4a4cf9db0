"""What every live stage shares: a named thread, a command inbox, and errors caught at the loop's edge."""

from __future__ import annotations

import abc
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable

from avatarify_app.errors import AvatarifyError
from avatarify_app.frames import MessageLevel, UserMessage, as_sentence
from avatarify_app.pipeline.events import Event, MessagePosted
from avatarify_app.pipeline.queues import QueueClosed

logger = logging.getLogger(__name__)

__all__ = ["Emit", "Stage", "as_sentence"]  # as_sentence lives in frames (outputs use it too)

# The same message is not repeated within this many seconds (a failing loop must not flood the UI).
MESSAGE_REPEAT_S = 5.0
# After an unexpected error a stage waits this long before its next step, so it cannot spin.
ERROR_PAUSE_S = 0.1

Emit = Callable[[Event], None]


class Stage(abc.ABC):
    """One thread of the pipeline. It owns its state; other threads reach it only through ``send``.

    The loop: apply pending commands, then ``_step()`` (one frame's work, waiting on a queue or on
    the wake event). ``AvatarifyError`` becomes a message for the user; any other exception is
    logged with its traceback and reported in one sentence; the loop goes on either way. The loop
    ends when the pipeline's stop event is set or an input queue is closed; ``_teardown`` then runs.
    """

    def __init__(self, name: str, stop: threading.Event, emit: Emit) -> None:
        self.name = name
        self._stop = stop
        self._emit = emit
        self._commands: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"avatarify-{name}")
        self._posted: dict[tuple[str, str], float] = {}

    def send(self, command: object) -> None:
        """Queue a command (thread-safe); it is applied before the stage's next step."""
        self._commands.put(command)
        self._wake.set()

    def wake(self) -> None:
        """Cut the stage's current wait short (commands and stop use it)."""
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True when it did."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _wait(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` seconds (None: until woken) or until a command or stop arrives."""
        if timeout is None or timeout > 0:
            self._wake.wait(timeout)
        self._wake.clear()

    def _post(self, level: MessageLevel, text: str, key: str) -> None:
        now = time.monotonic()
        if now - self._posted.get((key, text), -MESSAGE_REPEAT_S) < MESSAGE_REPEAT_S:
            return
        self._posted[(key, text)] = now
        self._emit(MessagePosted(UserMessage(level, text, key=key)))

    def _run(self) -> None:
        try:
            self._guarded(self._setup)
            while not self._stop.is_set():
                try:
                    while True:
                        try:
                            command = self._commands.get_nowait()
                        except queue.Empty:
                            break
                        self._guarded(functools.partial(self._apply, command))
                    if not self._stop.is_set():
                        self._guarded(self._step)
                except QueueClosed:
                    break
        finally:
            self._guarded(self._teardown)
            logger.debug("%s stage ended", self.name)

    def _guarded(self, action: Callable[[], None]) -> None:
        """Run ``action``; errors become messages. ``QueueClosed`` passes through (it means stop)."""
        try:
            action()
        except QueueClosed:
            raise
        except AvatarifyError as exc:
            logger.info("%s stage: %s", self.name, exc)
            self._post(MessageLevel.ERROR, as_sentence(str(exc)), key=self.name)
        except Exception:
            logger.exception("unexpected error in the %s stage", self.name)
            self._post(
                MessageLevel.ERROR,
                f"Something went wrong in the {self.name} stage; details are in the log.",
                key=self.name,
            )
            if not self._stop.is_set():
                self._wait(ERROR_PAUSE_S)

    def _setup(self) -> None:  # noqa: B027 - optional hook
        """Open what the stage owns (runs on the stage's thread)."""

    def _teardown(self) -> None:  # noqa: B027 - optional hook
        """Close what the stage owns (runs on the stage's thread, also after errors)."""

    @abc.abstractmethod
    def _step(self) -> None:
        """One frame's work. Waits on a queue or ``_wait``; never sleeps blindly."""

    @abc.abstractmethod
    def _apply(self, command: object) -> None:
        """Apply one command record."""
