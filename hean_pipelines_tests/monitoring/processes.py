"""Real processes for the monitoring tests: the exporter (`hean metrics serve`) and a Prometheus binary.

Everything binds 127.0.0.1; ports are picked by the OS. The Prometheus binary comes from Debian's
`prometheus` package, installed by `make prometheus` (a prerequisite of `make test`). In CI (`CI=true`) a
missing binary fails the test instead of skipping it: CI must prove the dashboard works.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "monitoring"


def require_binary(name: str) -> str:
    """The path of ``name``; a failure in CI, a skip elsewhere (with the command that installs it)."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed: `make prometheus` installs Debian's prometheus package"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM (both servers shut down cleanly on it), then SIGKILL if it takes too long."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def exporter(env: dict[str, str], cwd: Path, log: Path) -> Iterator[str]:
    """`hean metrics serve --port 0` as a subprocess; yields its base URL once it serves."""
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hean_pipelines", "metrics", "serve", "--port", "0"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 120)
            line = proc.stdout.readline() if ready else ""
            if "serving http://" not in line:
                proc.kill()
                pytest.fail(f"the exporter did not start: {line!r}\n{log.read_text()[-3000:]}")
            url = line.split("serving ", 1)[1].split()[0].removesuffix("/metrics")
            yield url
        finally:
            _stop(proc)
            if proc.stdout is not None:
                proc.stdout.close()


def http_get(url: str, timeout: float = 15.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return int(response.status), response.read().decode()


def prometheus_config(target: str, folder: Path, interval: str = "1s") -> Path:
    """The repository's monitoring/prometheus.yml, scraping ``target`` every ``interval``, rules by absolute path."""
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"].update(scrape_interval=interval, scrape_timeout=interval, evaluation_interval=interval)
    config["rule_files"] = [str(MONITORING / name) for name in config["rule_files"]]
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [target]}]
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


class Prometheus:
    """A Prometheus server's HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        _, body = http_get(f"{self.url}/api/v1/{path}{query}")
        payload = json.loads(body)
        assert payload["status"] == "success", payload
        return payload["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        return list(data["result"])

    def wait_until(self, condition: str, what: str, timeout_s: float = 60.0) -> None:
        """Until the instant query ``condition`` returns something."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.query(condition):
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.2)
        pytest.fail(f"Prometheus: {what} not seen within {timeout_s} s ({condition})")


@contextmanager
def prometheus(config: Path, folder: Path) -> Iterator[Prometheus]:
    binary = require_binary("prometheus")
    port = free_port()
    log = folder / "prometheus.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield Prometheus(f"http://127.0.0.1:{port}")
        finally:
            _stop(proc)


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *args], input=stdin, capture_output=True, text=True, timeout=60, cwd=REPO
    )
