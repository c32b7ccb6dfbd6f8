"""optuna-dashboard on a gensynth study, read back over its HTTP API (127.0.0.1): metric
names, flat sortable attributes and the constraints are where the dashboard looks."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gensynth.explore import explore
from tests.test_explore import config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_dashboard_reads_metric_names_flat_attributes_and_constraints(tmp_path):
    pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is not installed")
    explore(config(tmp_path, trials=3))
    journal = str(tmp_path / "tiny.journal")
    port = _free_port()
    command = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    server = subprocess.Popen(
        [command, journal, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                studies = _get(f"{base}/api/studies")["study_summaries"]
                break
            except OSError:
                assert time.time() < deadline and server.poll() is None, "dashboard did not start"
                time.sleep(0.3)
        (summary,) = studies
        assert summary["study_name"] == "tiny"
        detail = _get(f"{base}/api/studies/{summary['study_id']}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert detail["objective_names"] == ["netscore"]
    sortable = {a["key"] for a in detail["union_user_attrs"] if a["sortable"]}
    assert {"m_params_m", "m_macs_g", "m_latency_ms", "m_accuracy", "feasible"} <= sortable
    assessed = [t for t in detail["trials"] if t["state"] == "Complete"]
    assert assessed and all(t["constraints"] for t in assessed)
    for t in assessed:
        attrs = {a["key"]: a["value"] for a in t["user_attrs"]}
        violations = json.loads(attrs["violations"])
        assert t["constraints"][: len(violations)] == pytest.approx(list(violations.values()))
