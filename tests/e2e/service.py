"""A real `imagelake serve` process on a free loopback port, driven over HTTP and the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.moto_server import free_port


@dataclass
class Service:
    data_dir: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    workers: int = 2
    port: int = field(default_factory=free_port)
    key: str = ""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "IMAGELAKE_DATA_DIR": str(self.data_dir),
                "IMAGELAKE_PORT": str(self.port),
                "IMAGELAKE_HOST": "127.0.0.1",
                "IMAGELAKE_WORKERS": str(self.workers),
                "IMAGELAKE_RETRY_BASE_DELAY": "0.05",
            }
        )
        env.update(self.extra_env)
        return env

    def cli(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run `imagelake ARGS` against this service's configuration."""
        return subprocess.run(
            [sys.executable, "-m", "imagelake", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            timeout=120,
            check=False,
        )

    def create_key(self, user: str, email: str | None = None, role: str = "user") -> str:
        args = ["keys", "create", "--user", user, "--role", role]
        args += ["--email", email] if email else []
        done = self.cli(*args)
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode().strip().splitlines()[-1]

    def start(self) -> Service:
        if not self.key:
            self.key = self.create_key("tester", role="admin")  # as the first-start key is
        log = (self.data_dir / "serve.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "imagelake", "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"imagelake serve exited: {self.log()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"imagelake serve did not start: {self.log()}")

    def log(self) -> str:
        return (self.data_dir / "serve.log").read_text(errors="replace")

    def client(self, key: str | None = None) -> httpx.Client:
        token = self.key if key is None else key
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60)

    def kill9(self) -> None:
        """SIGKILL the whole process group: API and workers, no chance to clean up."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def wait_for(
        self, image_id: str, status: str = "ready", timeout: float = 60
    ) -> dict[str, object]:
        """Poll an image until it reaches status; fail with its last state otherwise."""
        deadline = time.monotonic() + timeout
        body: dict[str, object] = {}
        with self.client() as client:
            while time.monotonic() < deadline:
                body = client.get(f"/images/{image_id}").json()
                if body.get("status") == status:
                    return body
                time.sleep(0.1)
        raise AssertionError(f"{image_id} never became {status}: {body}")
