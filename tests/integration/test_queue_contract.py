"""The Queue contract, run over every backend in conftest.QUEUES.

Nothing here asserts how long anything took. Waits are generous upper bounds: a test
that needs a message back waits for it (receive with `wait`), and one that needs a
message to stay hidden hides it for far longer than the test can run.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from imagelake.adapters.embedded.sqlite_queue import SqliteQueue
from imagelake.domain.errors import NotFound
from imagelake.ports import Message, Queue

HIDDEN = 600.0  # seconds: longer than any test runs
BRIEFLY = 0.2  # seconds: short enough to wait out
PATIENCE = 30.0  # seconds: the most a test waits for a message to come back


def receive_one(queue: Queue, visibility_timeout: float = HIDDEN, wait: float = 0) -> Message:
    messages = queue.receive(1, visibility_timeout, wait=wait)
    assert len(messages) == 1
    return messages[0]


def test_send_receive_ack(queue: Queue) -> None:
    queue.send([b"one", b"two", b"three"])

    messages = queue.receive(10, HIDDEN)

    assert sorted(m.body for m in messages) == [b"one", b"three", b"two"]
    assert all(m.receive_count == 1 for m in messages)
    assert len({m.message_id for m in messages}) == 3
    queue.ack(messages)
    assert queue.depth() == 0
    assert queue.receive(10, HIDDEN) == []


def test_empty_queue_returns_nothing(queue: Queue) -> None:
    assert queue.receive(10, HIDDEN) == []
    assert queue.depth() == 0
    queue.send([])
    assert queue.depth() == 0


def test_receive_takes_at_most_max_messages(queue: Queue) -> None:
    queue.send([b"%d" % n for n in range(5)])

    assert len(queue.receive(2, HIDDEN)) == 2
    assert len(queue.receive(10, HIDDEN)) == 3


def test_receive_waits_for_a_message_to_arrive(queue: Queue) -> None:
    sender = threading.Timer(BRIEFLY, queue.send, args=([b"late"],))
    sender.start()
    try:
        message = receive_one(queue, wait=PATIENCE)
    finally:
        sender.join()

    assert message.body == b"late"


def test_depth_counts_waiting_and_in_flight(queue: Queue) -> None:
    queue.send([b"a", b"b", b"c"])
    in_flight = receive_one(queue)

    assert queue.depth() == 3
    queue.ack([in_flight])
    assert queue.depth() == 2


def test_claimed_message_stays_hidden(queue: Queue) -> None:
    queue.send([b"a"])
    receive_one(queue)

    assert queue.receive(10, HIDDEN) == []


def test_unacked_message_comes_back_after_the_visibility_timeout(queue: Queue) -> None:
    queue.send([b"a"])
    first = receive_one(queue, visibility_timeout=BRIEFLY)

    second = receive_one(queue, wait=PATIENCE)

    assert (second.message_id, second.body) == (first.message_id, b"a")
    assert (first.receive_count, second.receive_count) == (1, 2)
    assert second.receipt != first.receipt
    assert second.sent_at == first.sent_at


def test_stale_holder_does_not_stop_the_current_one(queue: Queue) -> None:
    queue.send([b"a"])
    stale = receive_one(queue, visibility_timeout=BRIEFLY)
    current = receive_one(queue, wait=PATIENCE)

    queue.ack([stale])  # none of these raises, whatever the backend makes of them
    queue.retry(stale, 0)
    queue.ack([current])

    assert queue.depth() == 0


def test_stale_holder_cannot_ack_retry_or_dead_letter(fenced_queue: Queue) -> None:
    queue = fenced_queue
    queue.send([b"a"])
    stale = receive_one(queue, visibility_timeout=BRIEFLY)
    current = receive_one(queue, wait=PATIENCE)

    queue.ack([stale])
    queue.retry(stale, 0)
    queue.dead_letter(stale, "stale holder")

    assert queue.depth() == 1
    assert queue.receive(10, HIDDEN) == []  # still hidden for its current holder
    assert queue.dead_letters() == []
    queue.ack([current])
    assert queue.depth() == 0


def test_retry_hides_the_message_for_the_delay(queue: Queue) -> None:
    queue.send([b"a"])
    queue.retry(receive_one(queue, visibility_timeout=BRIEFLY), HIDDEN)

    assert queue.receive(10, HIDDEN, wait=BRIEFLY * 3) == []
    assert queue.depth() == 1


def test_retry_without_delay_redelivers_at_once(queue: Queue) -> None:
    queue.send([b"a"])
    queue.retry(receive_one(queue), 0)

    again = receive_one(queue, wait=PATIENCE)

    assert (again.body, again.receive_count) == (b"a", 2)


def test_dead_letter_keeps_body_reason_and_attempts(queue: Queue) -> None:
    queue.send([b"{not json"])
    queue.retry(receive_one(queue), 0)
    message = receive_one(queue, wait=PATIENCE)

    queue.dead_letter(message, "not valid JSON")

    assert queue.depth() == 0
    [dead] = queue.dead_letters()
    assert (dead.body, dead.reason, dead.attempts) == (b"{not json", "not valid JSON", 2)
    assert dead.sent_at == message.sent_at
    assert dead.dead_at >= dead.sent_at


def test_dead_letters_are_listed_newest_first(queue: Queue) -> None:
    queue.send([b"first"])
    queue.dead_letter(receive_one(queue), "one")
    queue.send([b"second"])
    queue.dead_letter(receive_one(queue), "two")

    assert [d.body for d in queue.dead_letters()] == [b"second", b"first"]
    assert [d.body for d in queue.dead_letters(limit=1)] == [b"second"]


def test_replay_one_dead_letter(queue: Queue) -> None:
    queue.send([b"a", b"b"])
    for message in queue.receive(10, HIDDEN):
        queue.dead_letter(message, "failed")
    chosen = queue.dead_letters()[0]

    assert queue.replay(chosen.dead_letter_id) == 1

    assert [d.body for d in queue.dead_letters()] == [b"b" if chosen.body == b"a" else b"a"]
    replayed = receive_one(queue)
    assert (replayed.body, replayed.receive_count) == (chosen.body, 1)
    with pytest.raises(NotFound):
        queue.replay(chosen.dead_letter_id)


def test_replay_all_dead_letters(queue: Queue) -> None:
    queue.send([b"a", b"b", b"c"])
    for message in queue.receive(10, HIDDEN):
        queue.dead_letter(message, "failed")

    assert queue.replay() == 3

    assert queue.dead_letters() == []
    assert sorted(m.body for m in queue.receive(10, HIDDEN)) == [b"a", b"b", b"c"]
    assert queue.replay() == 0


def test_replay_of_an_unknown_dead_letter_is_not_found(queue: Queue) -> None:
    with pytest.raises(NotFound):
        queue.replay("12345")
    with pytest.raises(NotFound):
        queue.replay("not-an-id")


def test_purge_dead_letters(queue: Queue) -> None:
    queue.send([b"a", b"b"])
    for message in queue.receive(10, HIDDEN):
        queue.dead_letter(message, "failed")

    assert queue.purge_dead_letters() == 2
    assert queue.dead_letters() == []
    assert queue.purge_dead_letters() == 0
    assert queue.depth() == 0


# SqliteQueue specifics: named queues in one file, several instances (processes) at once.


def test_named_queues_in_one_file_are_separate(tmp_path: Path) -> None:
    events, jobs = SqliteQueue(tmp_path / "q.db", "events"), SqliteQueue(tmp_path / "q.db", "jobs")
    try:
        events.send([b"event"])
        jobs.send([b"job"])
        events.dead_letter(receive_one(events), "failed")

        assert [m.body for m in jobs.receive(10, HIDDEN)] == [b"job"]
        assert jobs.dead_letters() == []
        assert jobs.replay() == 0
        assert (events.depth(), jobs.depth()) == (0, 1)
    finally:
        events.close()
        jobs.close()


def test_a_sent_message_survives_kill_9(tmp_path: Path) -> None:
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from imagelake.adapters.embedded.sqlite_queue import SqliteQueue\n"
        "SqliteQueue(Path(sys.argv[1]), 'q').send([b'kept'])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(tmp_path / "q.db")], check=False)
    assert killed.returncode == -signal.SIGKILL

    reopened = SqliteQueue(tmp_path / "q.db", "q")
    try:
        assert receive_one(reopened).body == b"kept"
    finally:
        reopened.close()


def test_concurrent_consumers_never_claim_a_message_twice(tmp_path: Path) -> None:
    producer = SqliteQueue(tmp_path / "q.db", "q")
    producer.send([b"%d" % n for n in range(300)])
    consumers = [SqliteQueue(tmp_path / "q.db", "q") for _ in range(4)]
    claimed: list[list[bytes]] = [[] for _ in consumers]

    def consume(queue: Queue, into: list[bytes]) -> None:
        while messages := queue.receive(7, HIDDEN):
            into.extend(m.body for m in messages)
            queue.ack(messages)

    threads = [
        threading.Thread(target=consume, args=(consumer, into))
        for consumer, into in zip(consumers, claimed, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        everything = [body for bodies in claimed for body in bodies]
        assert sorted(everything) == sorted(b"%d" % n for n in range(300))
        assert producer.depth() == 0
    finally:
        for queue in [producer, *consumers]:
            queue.close()
