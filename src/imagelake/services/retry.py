"""What happens to a message whose handling failed: retry with backoff, then dead-letter."""

from __future__ import annotations

from imagelake.ports import Message, Queue


def backoff_delay(receive_count: int, base: float, cap: float = 300.0) -> float:
    return float(min(cap, base * 2 ** max(0, receive_count - 1)))


def retry_or_dead_letter(
    queue: Queue, message: Message, reason: str, max_receives: int, base_delay: float
) -> bool:
    """Return True when the message was dead-lettered, False when it will come back."""
    if message.receive_count >= max_receives:
        queue.dead_letter(message, f"{reason} (after {message.receive_count} attempts)")
        return True
    queue.retry(message, backoff_delay(message.receive_count, base_delay))
    return False
