"""The real CLI: keys, bulk upload, and the first-start banner of `imagelake serve`."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import httpx

from tests.e2e.service import Service
from tests.photos import photo_bytes

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def words(output: bytes) -> str:
    """Output as one line of words: rich wraps long lines at the terminal width."""
    return " ".join(ANSI.sub("", output.decode()).split())


def summary(stderr: bytes) -> dict[str, int]:
    """The outcome table `imagelake upload` prints at the end: {'new': 3, ...}."""
    text = ANSI.sub("", stderr.decode())
    rows = re.findall(r"(new|duplicate|failed)\s*│\s*(\d+)", text)
    return {outcome: int(count) for outcome, count in rows}


def test_keys_create_list_revoke(service: Service) -> None:
    token = service.create_key("alice", "alice@example.com")
    with service.client(token) as client:
        assert client.get("/images").status_code == 200

    listed = service.cli("keys", "list")
    assert listed.returncode == 0
    table = listed.stdout.decode()
    assert token not in table
    [row] = [line for line in table.splitlines() if "alice" in line]
    assert "alice@example.com" in row
    key_id = row.split("│")[1].strip()

    revoked = service.cli("keys", "revoke", key_id)
    assert revoked.returncode == 0
    relisted = [line for line in service.cli("keys", "list").stdout.decode().splitlines()]
    assert "yes" in next(line for line in relisted if key_id in line)
    with service.client(token) as client:
        reply = client.get("/images")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "unauthorized"
    with service.client() as client:  # the other key still works
        assert client.get("/images").status_code == 200


def test_keys_cli_errors_and_a_revoked_key_on_upload(service: Service, tmp_path: Path) -> None:
    unknown = service.cli("keys", "revoke", "no-such-key")
    assert unknown.returncode == 1
    assert words(unknown.stderr) == "error: no API key no-such-key"

    photo = tmp_path / "a.jpg"
    photo.write_bytes(photo_bytes())
    done = service.cli("upload", str(photo), "--url", service.base_url, "--key", "il_wrong")

    assert done.returncode == 1
    assert summary(done.stderr) == {"new": 0, "duplicate": 0, "failed": 1}
    assert f"failed {photo}: HTTP 401: invalid or revoked API key" in words(done.stderr)


def test_upload_a_directory_recursively_with_a_summary(service: Service, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "2024" / "june").mkdir(parents=True)
    (photos / "a.jpg").write_bytes(photo_bytes("coffee"))
    (photos / "2024" / "b.png").write_bytes(photo_bytes("chelsea", "png"))
    (photos / "2024" / "june" / "c.webp").write_bytes(photo_bytes("rocket", "webp"))
    (photos / "2024" / "june" / "copy-of-a.jpg").write_bytes(photo_bytes("coffee"))
    (photos / "notes.txt").write_text("not a photo")

    done = service.cli("upload", str(photos), "--url", service.base_url, "--key", service.key)

    assert done.returncode == 1, done.stderr.decode()
    assert summary(done.stderr) == {"new": 3, "duplicate": 1, "failed": 1}
    assert "notes.txt" in done.stderr.decode()
    with service.client() as client:
        images = client.get("/images").json()["images"]
    assert len(images) == 3
    for image in images:
        service.wait_for(image["image_id"])

    (photos / "notes.txt").unlink()
    (photos / "d.gif").write_bytes(photo_bytes("astronaut", "gif"))
    again = service.cli("upload", str(photos), "--url", service.base_url, "--key", service.key)

    assert again.returncode == 0, again.stderr.decode()
    assert summary(again.stderr) == {"new": 1, "duplicate": 4, "failed": 0}


def test_first_start_prints_a_key_and_a_curl_example_that_works(tmp_path: Path) -> None:
    svc = Service(tmp_path / "data", key="none-yet")  # start() makes no key of its own
    svc.data_dir.mkdir()
    svc.start()
    try:
        log = ANSI.sub("", svc.log())
        [upload_line] = [line.strip() for line in log.splitlines() if "--data-binary" in line]
        [fetch_line] = [line for line in log.splitlines() if "Then fetch it:" in line]
        token = re.search(r"Bearer (il_[\w-]+)", upload_line)
        assert token is not None
        assert token.group(1) in log.split("shown only once")[1].split("Upload a photo")[0]

        (tmp_path / "photo.jpg").write_bytes(photo_bytes("coffee"))
        uploaded = subprocess.run(
            [*shlex.split(upload_line), "--silent", "--show-error", "--fail"],
            cwd=tmp_path,
            capture_output=True,
            timeout=60,
            check=True,
        )
        image = json.loads(uploaded.stdout)
        assert image["status"] == "processing"
        command = fetch_line.split("Then fetch it:")[1].replace("IMAGE_ID", image["image_id"])
        fetched = subprocess.run(
            [*shlex.split(command), "--silent", "--fail"],
            capture_output=True,
            timeout=60,
            check=True,
        )
        assert json.loads(fetched.stdout)["image_id"] == image["image_id"]
        [link_line] = [line for line in log.splitlines() if "A counted link" in line]
        command = "curl" + link_line.split("curl", 1)[1].replace("IMAGE_ID", image["image_id"])
        minted = subprocess.run(
            [*shlex.split(command), "--silent", "--fail"],
            capture_output=True,
            timeout=60,
            check=True,
        )
        location = re.search(rb"(?im)^location: (\S+)", minted.stdout)
        assert location is not None, minted.stdout
        card = httpx.get(location.group(1).decode(), timeout=60)  # no key
        assert (card.status_code, card.headers["content-type"]) == (200, "image/webp")

        svc.stop()
        svc.start()  # a key exists now: no new one is made or shown
        assert ANSI.sub("", svc.log()).count("shown only once") == 1
        with httpx.Client(base_url=svc.base_url) as client:
            headers = {"Authorization": f"Bearer {token.group(1)}"}
            assert (
                client.get("/images", headers=headers).json()["images"][0]["image_id"]
                == (image["image_id"])
            )
    finally:
        svc.stop()


AUTH_OFF_EVERYWHERE = {"IMAGELAKE_AUTH": "off", "IMAGELAKE_HOST": "0.0.0.0"}


def test_serve_with_auth_off_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    svc = Service(tmp_path / "data", extra_env=AUTH_OFF_EVERYWHERE, workers=0)

    done = svc.cli("serve")

    assert done.returncode == 1
    message = words(done.stderr)
    assert "IMAGELAKE_AUTH=off" in message and "0.0.0.0" in message
    assert "IMAGELAKE_ALLOW_INSECURE=1" in message


def test_serve_with_auth_off_warns_and_allow_insecure_lets_it_listen_anywhere(
    tmp_path: Path,
) -> None:
    env = {**AUTH_OFF_EVERYWHERE, "IMAGELAKE_ALLOW_INSECURE": "1"}
    svc = Service(tmp_path / "data", extra_env=env, workers=0, key="none needed")
    svc.data_dir.mkdir()
    svc.start()
    try:
        with httpx.Client(base_url=svc.base_url) as anonymous:
            assert anonymous.get("/images").status_code == 200
        log = words(svc.log().encode())
    finally:
        svc.stop()

    assert "WARNING" in log and "IMAGELAKE_AUTH=off" in log and "0.0.0.0" in log
