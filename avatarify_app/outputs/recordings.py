"""The live recordings' one owner: it makes each recording's sink, keeps those whose files may still be
finishing, waits for them, repairs the files a crash cut short, and hands each finished file's outcome
to whoever can tell the user.

Threads and the one rule: a recorder finishes its file on its own thread and reports only through
``Recordings`` (``_finished``), which never touches a stage's state: it calls the output stage's
thread-safe hand-back (``attach``), or, with no stage attached (live mode stopped), reports the
outcome itself (``on_late``). The hand-back and ``attach``/``detach`` share one lock, so a file that
finishes while live mode stops is reported exactly once, by one of the two.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from avatarify_app.frames import MessageLevel, UserMessage, as_sentence
from avatarify_app.outputs import journal
from avatarify_app.outputs.microphone import AudioInputFactory, open_microphone
from avatarify_app.outputs.recorder import RecorderSink
from avatarify_app.outputs.repair import repair_abandoned

logger = logging.getLogger(__name__)

# (path, microphone, on_message) -> a recording's sink, not yet opened (``RecorderSink``'s interface).
RecorderFactory = Callable[[Path, "str | int | None", Callable[[UserMessage], None]], RecorderSink]
# (recorder, error_text): a recording's file is done; error_text says why it stopped early, or None.
FinishedCallback = Callable[[RecorderSink, "str | None"], None]


class Recordings:
    """Owns the recordings of one controller (all its live runs).

    Args:
        on_message: where repair outcomes go (any thread).
        on_late: ``(recorder, outcome)`` for a file that finished with no output stage attached (live
            mode stopped meanwhile); called on the recorder's thread.
        audio_input_factory: the microphone for each recording (``outputs.microphone``).
        recorder_factory: builds each recording's sink; default ``RecorderSink`` with
            ``audio_input_factory`` (tests pass a recorder whose finishing they can hold).
    """

    def __init__(
        self,
        *,
        on_message: Callable[[UserMessage], None],
        on_late: Callable[[RecorderSink, UserMessage], None],
        audio_input_factory: AudioInputFactory | None = None,
        recorder_factory: RecorderFactory | None = None,
    ) -> None:
        self._on_message = on_message
        self._on_late = on_late
        self._audio_input_factory = audio_input_factory or open_microphone
        self._recorder_factory = recorder_factory or self._default_recorder
        self._lock = threading.RLock()  # guards the lists and the attached stage
        self._recorders: list[RecorderSink] = []  # recordings whose files may still be finishing
        self._workers: list[threading.Thread] = []  # repairs of recordings cut short
        self._attached: FinishedCallback | None = None

    def _default_recorder(
        self, path: Path, microphone: str | int | None, on_message: Callable[[UserMessage], None]
    ) -> RecorderSink:
        return RecorderSink(
            path, microphone=microphone, audio_input_factory=self._audio_input_factory, on_message=on_message
        )

    # -- the output stage's side ----------------------------------------------------------------------
    def attach(self, hand_back: FinishedCallback) -> None:
        """From now on, finished files go to ``hand_back`` (the output stage's thread-safe ``send``
        of a command: it must never block). Called on the stage's own thread, at its start."""
        with self._lock:
            self._attached = hand_back

    def detach(self, hand_back: FinishedCallback) -> None:
        """Stop handing files back to ``hand_back`` (the stage ends); later ones go to ``on_late``.
        A stage that is no longer the attached one detaches nothing."""
        with self._lock:
            if self._attached == hand_back:
                self._attached = None

    def new(
        self, path: Path, microphone: str | int | None, on_message: Callable[[UserMessage], None]
    ) -> RecorderSink:
        """A recording's sink for ``path`` (not yet opened), kept until its file is finished."""
        recorder = self._recorder_factory(path, microphone, on_message)
        with self._lock:
            self._recorders = [r for r in self._recorders if not r.wait(0)] + [recorder]
        return recorder

    def finish(self, recorder: RecorderSink, error_text: str | None = None) -> None:
        """Stop ``recorder`` without waiting: its thread finishes the file, and the outcome goes to the
        attached stage, or to ``on_late`` (see the module's docstring). ``error_text``: why the
        recording is stopped early, if it is."""
        recorder.close(wait=False, on_done=lambda done: self._finished(done, error_text))

    def hand_over(self, recorder: RecorderSink, error_text: str | None) -> None:
        """Report a finished file that reached a stage too late for it to handle (it was ending):
        to the stage attached now, else to ``on_late``."""
        self._finished(recorder, error_text)

    def _finished(self, recorder: RecorderSink, error_text: str | None) -> None:
        """On the recorder's thread: the file is done. Under the lock, so ``detach`` cannot come
        between the choice of who reports it and the report."""
        with self._lock:
            if self._attached is not None:
                self._attached(recorder, error_text)
            else:
                self._on_late(recorder, outcome(recorder, error_text))

    # -- the controller's side ----------------------------------------------------------------------
    def wait_for_saving(self, timeout: float | None = None) -> bool:
        """Wait until every stopped recording's file is finished (and the repairs started by
        ``repair_cut_short`` are done); True when all are."""
        with self._lock:
            recorders, workers = list(self._recorders), list(self._workers)
        deadline = None if timeout is None else time.monotonic() + timeout
        done = True
        for recorder in recorders:
            done &= recorder.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        for worker in workers:
            worker.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            done &= not worker.is_alive()
        return done

    def repair_cut_short(self) -> None:
        """Repair, on a worker thread, the recordings and renders that a crash cut short (see
        ``outputs.repair``); each outcome goes to ``on_message`` (key ``"recording"``). Returns at once."""
        if not journal.abandoned():
            return

        def work() -> None:
            try:
                outcomes = repair_abandoned()
            except Exception:
                logger.exception("repairing recordings cut short failed")
                return
            for repaired in outcomes:
                level = MessageLevel.WARNING if repaired.error is None else MessageLevel.ERROR
                self._on_message(UserMessage(level, as_sentence(repaired.sentence()), key="recording"))

        worker = threading.Thread(target=work, name="avatarify-repair")
        with self._lock:
            self._workers = [w for w in self._workers if w.is_alive()] + [worker]
        worker.start()


def outcome(recorder: RecorderSink, error_text: str | None) -> UserMessage:
    """The sentence for a finished recording: "Saved PATH (N s).", or why it stopped early
    (``recorder.error``, else ``error_text``) and what of it was kept."""
    if recorder.error is not None:
        error_text = as_sentence(str(recorder.error))
    elif error_text is not None and recorder.kept_path is None and recorder.complete:
        error_text = f"{error_text} What was recorded until then is saved in {recorder.path}."
    if error_text is not None:
        return UserMessage(MessageLevel.ERROR, error_text, key="recording")
    return UserMessage(
        MessageLevel.INFO, f"Saved {recorder.path} ({recorder.elapsed_s:.0f} s).", key="recording"
    )
