"""Several processes on one study, as users scale out: two `gensynth explore` commands at
once on a journal and on a real PostgreSQL server end with exactly --trials assessed trials,
no spec trained twice, nothing lost; a kill -9 of a --workers parent leaves no orphan."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from gensynth.record import read_all
from gensynth.study import load_study
from tests.test_explore import explore_command as base_command

DATA = Path(__file__).parent / "data"
TRIALS = 6


def explore_command(storage: str, trials: int = TRIALS, *extra: str) -> list[str]:
    return base_command(storage, trials, "--study", "tiny", "--no-compare", "--no-confirm", *extra)


def run_two_at_once(storage: str, folder: Path) -> None:
    """Two explore processes started together with the same sampler seed (so they propose
    the same architectures: the hardest case for duplicates)."""
    procs = []
    for i in range(2):
        log = open(folder / f"explore-{i}.log", "w")  # noqa: SIM115 - closed below
        procs.append((subprocess.Popen(explore_command(storage), stdout=log, stderr=log), log))
    for proc, log in procs:
        code = proc.wait(timeout=600)
        log.close()
        assert code == 0, Path(log.name).read_text()[-3000:]


def check_exact(storage: str) -> None:
    study = load_study("tiny", storage)
    records = read_all(study)
    assert sum(r.counted for r in records) == TRIALS  # exactly --trials, not one more
    trained = [r for r in records if r.counted]
    assert len({r.hash for r in trained}) == len(trained), "a spec was trained twice"
    states = {t.state for t in study.get_trials()}
    assert TrialState.RUNNING not in states and TrialState.FAIL not in states
    assert len({r.worker for r in records}) == 2  # both processes took part


def test_two_explores_on_one_journal_study_are_exact(tmp_path):
    storage = str(tmp_path / "shared.journal")
    run_two_at_once(storage, tmp_path)
    check_exact(storage)


# --- a throwaway PostgreSQL server on 127.0.0.1 ------------------------------------------
def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    """A PostgreSQL server of its own (data dir, port), stopped and removed at the end."""
    pytest.importorskip("psycopg", reason="the [postgres] extra (psycopg) is not installed")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="gensynth-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root: run it as 'postgres'
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "gensynth", "--no-sync")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w",
        "start")  # fmt: skip
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "gensynth", "gs")
        yield f"postgresql://gensynth@127.0.0.1:{port}/gs"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_two_explores_on_one_postgresql_study_are_exact(postgres, tmp_path):
    run_two_at_once(postgres, tmp_path)  # the README's URL form: postgresql://
    check_exact(postgres)
    for i in range(2):
        log = (tmp_path / f"explore-{i}.log").read_text()
        assert "Warning" not in log and "deprecated" not in log, log


# --- no orphans ---------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    """Running (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_kill_9_of_a_workers_parent_leaves_no_orphan(tmp_path):
    storage = str(tmp_path / "w.journal")
    log = open(tmp_path / "explore.log", "w")  # noqa: SIM115
    parent = subprocess.Popen(
        explore_command(storage, 200, "--workers", "2"), stdout=log, stderr=log
    )
    workers: set[int] = set()
    deadline = time.time() + 180
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.5)
        assert parent.poll() is None, (tmp_path / "explore.log").read_text()[-2000:]
        try:
            trials = load_study("tiny", storage).get_trials()
        except Exception:
            continue
        workers = {int(str(t.user_attrs.get("worker", ":0")).rpartition(":")[2]) for t in trials}
        workers.discard(0)
        workers.discard(parent.pid)
    assert len(workers) == 2
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    log.close()
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    assert not [p for p in workers if _alive(p)], "workers outlived their parent"
