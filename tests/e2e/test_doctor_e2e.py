"""`imagelake doctor` against a running `imagelake serve`: thumbnails deleted by hand come back."""

from __future__ import annotations

import json
import shutil
import uuid
from typing import Any

from tests.e2e.service import Service
from tests.photos import photo_bytes

PHOTOS = [("coffee", "jpeg"), ("chelsea", "png"), ("rocket", "webp")]


def upload_all(service: Service) -> list[str]:
    ids = []
    with service.client() as client:
        for name, fmt in PHOTOS:
            reply = client.post("/images", content=photo_bytes(name, fmt))
            assert reply.status_code == 201, reply.text
            ids.append(reply.json()["image_id"])
    for image_id in ids:
        service.wait_for(image_id)
    return ids


def doctor(service: Service, *args: str) -> tuple[int, dict[str, Any]]:
    done = service.cli("doctor", "--json", *args)
    assert done.returncode in (0, 1), done.stderr.decode()
    return done.returncode, json.loads(done.stdout)


def test_doctor_repairs_deleted_thumbnails_and_removes_orphans(service: Service) -> None:
    ids = upload_all(service)
    blobs = service.data_dir / "blobs"
    orphan = str(uuid.uuid4())
    (blobs / "originals" / f"{orphan}.jpg").write_bytes(photo_bytes())
    (blobs / "thumbnails" / orphan).mkdir()
    (blobs / "thumbnails" / orphan / "128.jpg").write_bytes(b"left behind")
    assert service.cli("doctor").returncode == 1  # the orphan thumbnail: the original is young
    shutil.rmtree(blobs / "thumbnails")

    code, report = doctor(service, "--grace", "0")
    assert code == 1
    assert sorted((p["problem"], p["image_id"]) for p in report["problems"]) == sorted(
        [("missing_thumbnails", image_id) for image_id in ids] + [("orphan_original", orphan)]
    )
    assert report["summary"] == {
        "checked": {"images": 3, "originals": 4, "thumbnails": 0},
        "found": {"missing_thumbnails": 3, "orphan_original": 1},
        "repaired": {},
        "unrepaired": 4,
    }
    text = service.cli("doctor", "--grace", "0").stdout.decode()
    assert f"missing_thumbnails {ids[0]}: thumbnails/{ids[0]}/v/128x128-inside-q82.jpg" in text

    code, report = doctor(service, "--repair", "--grace", "0")
    assert code == 0
    assert report["summary"]["repaired"] == {"missing_thumbnails": 3, "orphan_original": 1}
    assert not (blobs / "originals" / f"{orphan}.jpg").exists()

    with service.client() as client:
        for image_id in ids:
            image = service.wait_for(image_id)
            links = image["thumbnails"]
            assert isinstance(links, dict) and sorted(links) == ["128", "256", "512"]
            for link in links.values():
                fetched = client.get(link, headers={"Authorization": ""})
                assert fetched.status_code == 200
                assert fetched.headers["content-type"] == "image/jpeg"
    code, report = doctor(service)
    assert (code, report["problems"]) == (0, [])
    assert service.cli("doctor").stdout.decode().strip().endswith(": no problems")
