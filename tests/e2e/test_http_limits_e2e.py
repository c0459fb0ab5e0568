"""The real server against hostile clients: huge headers, slow headers, slow bodies."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.service import Service

HEAD_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
TRICKLE_EVERY = 0.2  # well under the timeouts: each pause alone is not what cuts the client off


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    env = {
        "IMAGELAKE_HEADER_TIMEOUT": str(HEAD_TIMEOUT),
        "IMAGELAKE_BODY_TIMEOUT": str(BODY_TIMEOUT),
    }
    svc = Service(tmp_path_factory.mktemp("guarded") / "data", extra_env=env, workers=0).start()
    yield svc
    svc.stop()


def connect(svc: Service) -> socket.socket:
    return socket.create_connection(("127.0.0.1", svc.port), timeout=30)


def read_reply(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    reply = b""
    try:
        while chunk := sock.recv(65536):
            reply += chunk
    except ConnectionResetError:
        pass  # a reset after the reply: what was read before it stands
    return reply


def status_and_error(reply: bytes) -> tuple[int, str]:
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), reply[:200]
    return int(head.split(b" ")[1]), json.loads(body)["error"]["code"]


def trickle(sock: socket.socket, pieces: Iterator[bytes]) -> bytes:
    """Send one piece at a time with a pause between them, until the server answers or closes."""
    sock.settimeout(TRICKLE_EVERY)
    for piece in pieces:
        try:
            if chunk := sock.recv(65536):
                sock.settimeout(30)
                return chunk + read_reply(sock)
            return b""  # closed without a word
        except TimeoutError:
            pass
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            break
    sock.settimeout(30)
    return read_reply(sock)


def forever(piece: bytes, limit: int = 200) -> Iterator[bytes]:
    """piece again and again; the limit only ends a test whose server never cuts it off."""
    for _ in range(limit):
        yield piece


def test_a_huge_request_header_gets_431_and_other_clients_are_served_meanwhile(
    guarded: Service,
) -> None:
    flooding = threading.Event()
    sock = connect(guarded)

    def flood() -> None:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: ")
            for i in range(80):  # 80 MB of one header's value
                sock.sendall(b"a" * (1 << 20))
                if i == 0:
                    flooding.set()
            sock.sendall(b"\r\n\r\n")
        except OSError:
            pass  # the server stopped listening once it had refused
        finally:
            flooding.set()
            sock.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=flood, name="huge-header")
    sender.start()
    try:
        assert flooding.wait(30)
        meanwhile = httpx.get(f"{guarded.base_url}/healthz", timeout=30)
        reply = read_reply(sock)
    finally:
        sender.join(60)
        sock.close()

    assert meanwhile.status_code == 200
    assert status_and_error(reply) == (431, "request_headers_too_large")
    assert httpx.get(f"{guarded.base_url}/healthz").status_code == 200


@pytest.mark.parametrize(("kib", "status"), [(60, 200), (100, 431)])
def test_a_head_sent_in_one_piece_is_measured_whole(
    guarded: Service, kib: int, status: int
) -> None:
    with connect(guarded) as sock:
        filler = "a" * (kib * 1024)
        head = f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {filler}\r\nConnection: close\r\n"
        sock.sendall(head.encode() + b"\r\n")
        reply = read_reply(sock)

    assert reply.startswith(f"HTTP/1.1 {status} ".encode())


def test_headers_sent_too_slowly_get_408(guarded: Service) -> None:
    with connect(guarded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        reply = trickle(sock, forever(b"X-Slow: 1\r\n"))

    assert status_and_error(reply) == (408, "request_timeout")
    assert httpx.get(f"{guarded.base_url}/healthz").status_code == 200


def test_a_connection_that_never_sends_a_request_is_closed(guarded: Service) -> None:
    with connect(guarded) as sock:
        assert read_reply(sock) == b""


def test_a_body_sent_too_slowly_gets_408(guarded: Service) -> None:
    with connect(guarded) as sock:
        sock.sendall(
            b"POST /images HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            + f"Authorization: Bearer {guarded.key}\r\nContent-Length: 100000\r\n\r\n".encode()
            + b"\xff\xd8\xff"
        )
        reply = trickle(sock, forever(b"\0"))

    assert status_and_error(reply) == (408, "request_timeout")
    assert httpx.get(f"{guarded.base_url}/healthz").status_code == 200


def test_a_chunked_body_that_arrives_in_time_is_read(guarded: Service) -> None:
    def body() -> Iterator[bytes]:
        yield b"not an image, but it arrives in time\n"
        time.sleep(BODY_TIMEOUT / 4)
        yield b"and the rest of it\n"

    with guarded.client() as client:
        reply = client.post("/images", content=body(), headers={"Content-Type": "image/jpeg"})

    assert reply.status_code == 415
