"""Reporter: collected data on fabricated trials, escaping, the HTML files, a real browser."""

from __future__ import annotations

import shutil
import subprocess

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from gensynth.report import collect, write_report
from tests.conftest import tiny_spec

SPEC = tiny_spec().replace(num_classes=10).to_dict()
RECORD = {
    "deployment": {"resolution": 32, "channels": 3, "classes": 10, "batch": 1},
    "latency": {"backend": "torch", "threads": 1, "warmup": 1, "runs": 3},
    "proxy": {"dataset": "digits", "resolution": 16, "epochs": 2},
    "utility": {"alpha": 2.0, "beta": 0.5, "gamma": 0.5, "macs_unit": "G"},
}


def fabricated(
    status, value, number_metrics=None, violations=None, name="t", state=TrialState.COMPLETE
):
    metrics = {
        "params_m": 0.1,
        "macs_g": 0.01,
        "latency_ms": 2.0,
        "peak_activation_mb": 0.1,
        **(number_metrics or {}),
    }
    violations = violations or {"columnar": -1.0, "aads": -0.1}
    return create_trial(
        state=state,
        value=value if state == TrialState.COMPLETE else None,
        params={"s0_width": 8},
        distributions={"s0_width": optuna.distributions.IntDistribution(8, 64, step=8)},
        user_attrs={
            "spec": {**SPEC, "name": name},
            "hash": name,
            "status": status,
            "stage": "accuracy",
            "reason": "" if status == "feasible" else "x",
            "metrics": metrics,
            "violations": violations,
            "history": [50.0],
        },
        constraints=violations,
    )


def study_of(trials, name="fab"):
    study = optuna.create_study(direction="maximize", study_name=name)
    study.set_user_attr("constraints", RECORD)
    study.set_user_attr("constraints_file", "constraints/x.yaml")
    study.add_trials(trials)
    return study


def mixed_study(name="fab"):
    return study_of(
        [
            fabricated("feasible", 80.0, {"netscore": 80.0, "accuracy": 90.0}, name="a"),
            fabricated(
                "feasible", 85.0, {"netscore": 85.0, "accuracy": 95.0, "latency_ms": 3.0}, name="b"
            ),
            fabricated(
                "infeasible",
                90.0,
                {"netscore": 90.0, "accuracy": 96.0},
                {"accuracy_floor": 0.2, "columnar": -1.0},
                name="c",
            ),
            fabricated(
                "infeasible", -1e3, {}, {"no_strided_pointwise": 2.0, "aads": 0.3}, name="d"
            ),
            fabricated("failed", -1e3, {}, {"columnar": -1.0}, name="e"),
            fabricated("pruned", None, {"accuracy": 12.0}, state=TrialState.PRUNED, name="f"),
        ],
        name,
    )


def test_collect_counts_ranks_and_chooses():
    d = collect(mixed_study())
    assert {k: d["counts"][k] for k in ("total", "feasible", "infeasible", "failed", "pruned")} == {
        "total": 6,
        "feasible": 2,
        "infeasible": 2,
        "failed": 1,
        "pruned": 1,
    }
    assert d["best"]["number"] == 1  # best *feasible*, not the infeasible 90
    assert [r["number"] for r in d["ranking"]] == [1, 0, 2]
    assert d["by_rule"]["accuracy_floor"] == 1 and d["by_rule"]["no_strided_pointwise"] == 1
    assert d["by_rule"]["failed"] == 1
    assert d["history"]["best"] == [80.0, 85.0, 85.0, 85.0, 85.0, 85.0]
    assert d["history"]["share"][1] == 100.0
    assert d["pareto"]["latency_ms"]["front"] == [0, 1]
    assert "needs at least 5" in d["importances"]
    assert "<svg" in d["best"]["svg"] and "DC-AC" in d["best"]["svg"]


def test_all_infeasible_study_lists_nearest_misses():
    study = study_of(
        [
            fabricated("infeasible", -1e3, {}, {"params": 0.5, "columnar": -1}),
            fabricated("infeasible", -1e3, {}, {"params": 0.1, "aads": 0.05}),
            fabricated("infeasible", -1e3, {}, {"no_strided_pointwise": 4.0}),
        ]
    )
    d = collect(study)
    assert d["best"] is None
    assert [r["number"] for r in d["nearest_misses"]] == [1, 0, 2]
    assert d["nearest_misses"][0]["blocked_by"] == ["params", "aads"]


def test_html_escapes_every_string(tmp_path):
    evil = "<script>alert(1)</script>"
    study = study_of(
        [fabricated("feasible", 80.0, {"netscore": 80.0, "accuracy": 90.0}, name=evil)], name=evil
    )
    study.set_user_attr("description", evil)
    html = write_report(study, tmp_path).read_text()
    assert evil not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_report_files(tmp_path):
    import pandas as pd

    path = write_report(mixed_study(), tmp_path / "out")
    html = path.read_text()
    assert path.name == "index.html" and "Plotly.newPlot" in html
    assert "<script src=" not in html and '<link rel="stylesheet" href' not in html  # offline
    for section in ("The run", "The chosen architecture", "Ranking", "Counting conventions"):
        assert section in html
    assert len(pd.read_csv(tmp_path / "out" / "trials.csv")) == 6


def test_report_scales_to_2000_trials(tmp_path):
    trials = [
        fabricated(
            "feasible" if i % 3 else "infeasible",
            float(i % 97),
            {"netscore": float(i % 97), "accuracy": 50.0 + i % 40},
            name=f"n{i}",
        )
        for i in range(2000)
    ]
    d = collect(study_of(trials))
    assert len(d["ranking"]) == 25 and d["counts"]["total"] == 2000
    assert isinstance(d["importances"], dict)
    assert write_report(study_of(trials[:2000]), tmp_path).stat().st_size < 20e6


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HEADLESS = [  # a quiet, isolated headless browser (its profile folder is added per use)
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (.ci/run installs it "
    "from Debian packages; apt-get install chromium)",
)
def test_report_renders_in_headless_chromium(tmp_path):
    path = write_report(mixed_study(), tmp_path)
    flags = [
        CHROMIUM,
        *HEADLESS,
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
    ]
    dom = subprocess.run(
        [*flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.stdout.count('class="plot-container plotly"') >= 5  # the charts were drawn
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if "rror" in line], console
    shot = tmp_path / "report.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1400,2400", path.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.exists() and shot.stat().st_size > 20_000


class DevTools:
    """Drives headless Chromium over the DevTools protocol: real mouse events, screenshots."""

    def __init__(self, profile) -> None:
        import json
        import time
        import urllib.request

        import websocket

        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                *HEADLESS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "--window-size=1400,1600",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        active = profile / "DevToolsActivePort"
        deadline = time.time() + 60
        while not (active.exists() and active.read_text().count("\n") >= 1):
            assert time.time() < deadline and self.proc.poll() is None, "Chromium did not start"
            time.sleep(0.1)
        port = active.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.loads(r.read()) if t["type"] == "page")
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self.next_id, self.events = 0, []

    def call(self, method: str, **params):
        import json

        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]
            self.events.append(message.get("method"))

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def open(self, url: str) -> None:
        import time

        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        deadline = time.time() + 60
        while self.evaluate("document.readyState") != "complete":
            assert time.time() < deadline, "the page did not load"
            time.sleep(0.2)

    def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def screenshot(self, path) -> None:
        import base64

        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot")["data"]))

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (.ci/run installs it "
    "from Debian packages; apt-get install chromium)",
)
def test_clicking_a_ranking_row_shows_that_trials_graph(tmp_path):
    import time

    pytest.importorskip("websocket", reason="websocket-client (a dev extra) is not installed")
    path = write_report(mixed_study(), tmp_path)
    browser = DevTools(tmp_path / "profile")
    try:
        browser.open(path.as_uri())
        row = browser.evaluate(
            """(() => { const rows = document.querySelectorAll('#ranking tr.pick');
                const row = rows[rows.length - 1]; row.scrollIntoView({block: 'center'});
                const box = row.cells[3].getBoundingClientRect();
                return {x: box.x + box.width / 2, y: box.y + box.height / 2,
                        n: row.querySelector('a').textContent}; })()"""
        )
        shown = "getComputedStyle(document.getElementById('trial-{n}')).display"
        assert browser.evaluate(shown.format(n=row["n"])) == "none"  # hidden until clicked
        browser.click(row["x"], row["y"])  # a real mouse click on the row (not on the link)
        time.sleep(0.5)
        assert browser.evaluate("location.hash") == f"#trial-{row['n']}"
        assert browser.evaluate(shown.format(n=row["n"])) == "block"
        graph = browser.evaluate(
            f"""(() => {{ const svg = document.querySelector('#trial-{row["n"]} .graph svg');
                const box = svg.getBoundingClientRect();
                return {{w: box.width, h: box.height, text: svg.textContent}}; }})()"""
        )
        assert graph["w"] > 100 and graph["h"] > 50 and "stem" in graph["text"]
        others = browser.evaluate(
            "[...document.querySelectorAll('.trial')].filter("
            "t => getComputedStyle(t).display !== 'none').length"
        )
        assert others == 1  # only the clicked trial is shown
        browser.evaluate(f"document.getElementById('trial-{row['n']}').scrollIntoView()")
        browser.screenshot(tmp_path / "drilldown.png")
        assert (tmp_path / "drilldown.png").stat().st_size > 20_000
    finally:
        browser.close()
