"""Fixtures shared by the video tests."""

from __future__ import annotations

import threading

import pytest

from mmlong.video import _pyav


@pytest.fixture
def decoded_times(monkeypatch) -> list[float]:
    """A list that records the time (s) of every frame the PyAV cursors decode, from all threads."""
    times: list[float] = []
    lock = threading.Lock()
    pull = _pyav._Cursor._pull

    def recording_pull(self):
        item = pull(self)
        if item is not None:
            with lock:
                times.append(item.time)
        return item

    monkeypatch.setattr(_pyav._Cursor, "_pull", recording_pull)
    return times
