"""In-memory Notifier."""

from __future__ import annotations

import threading

from imagelake.ports import Notification


class RecordingNotifier:
    """Keeps every notification in memory: a first-class adapter for tests and dry runs."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self._lock = threading.Lock()

    def notify(self, notification: Notification) -> None:
        with self._lock:
            self.sent.append(notification)
