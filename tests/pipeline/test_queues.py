from __future__ import annotations

import threading

import pytest

from avatarify_app.pipeline.queues import LatestQueue, QueueClosed


def test_newest_wins_and_drops_are_counted() -> None:
    q: LatestQueue[int] = LatestQueue(maxsize=2)
    assert q.put(1) is False
    assert q.put(2) is False
    assert q.put(3) is True
    assert q.dropped == 1
    assert [q.get(timeout=0), q.get(timeout=0)] == [2, 3]


def test_get_times_out_with_none() -> None:
    q: LatestQueue[int] = LatestQueue()
    assert q.get(timeout=0.01) is None


def test_close_wakes_a_waiting_consumer() -> None:
    q: LatestQueue[int] = LatestQueue()
    raised = threading.Event()

    def consume() -> None:
        try:
            q.get()
        except QueueClosed:
            raised.set()

    consumer = threading.Thread(target=consume, name="test-consumer")
    consumer.start()
    q.close()
    consumer.join(timeout=2)
    assert raised.is_set()
    assert q.put(1) is False  # puts after close are ignored
    with pytest.raises(QueueClosed):
        q.get(timeout=0)


def test_clear_does_not_count_drops() -> None:
    q: LatestQueue[int] = LatestQueue(maxsize=1)
    q.put(1)
    q.clear()
    assert len(q) == 0
    assert q.dropped == 0


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LatestQueue(maxsize=0)
