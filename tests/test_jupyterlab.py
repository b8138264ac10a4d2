"""JupyterLab as `make lab` starts it, and the `neuralblitz_lab` kernel that `make install` registers: the server
answers and lists the kernel, and an experiment notebook runs end to end on that kernel under papermill."""
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, free_port

KERNEL = "neuralblitz_lab"
NO_KERNEL = f"jupyter kernel {KERNEL!r} is not registered in this environment; run `make install` (it registers it)"
OVERVIEW = ROOT / "nbs" / "experiments" / "00_data_overview.ipynb"


def _get(url: str, token: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r: return r.status, r.read()
    except urllib.error.HTTPError as e: return e.code, e.read()


def _stop(proc: subprocess.Popen) -> None:
    "Stop the server we started (its own process group: the server and anything it spawned)."
    if proc.poll() is not None: return
    os.killpg(proc.pid, signal.SIGTERM)
    try: proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL); proc.wait(timeout=10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, python):
    "(base URL, token) of a headless JupyterLab on nbs/ at a free port; stopped afterwards whatever happens."
    tmp_path = tmp_path_factory.mktemp("lab")
    port, token = free_port(), secrets.token_hex(16)
    cmd = [str(Path(python).with_name("jupyter")), "lab", "--no-browser", f"--port={port}", "--port-retries=0", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT / 'nbs'}", "--allow-root"]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            assert proc.poll() is None, f"jupyter lab exited with {proc.returncode}:\n{(tmp_path / 'lab.log').read_text()[-3000:]}"
            try:
                if _get(f"{base}/api/status", token)[0] == 200: break
            except OSError: pass
            assert time.time() < deadline, f"jupyter lab did not answer in 90 s:\n{(tmp_path / 'lab.log').read_text()[-3000:]}"
            time.sleep(0.5)
        yield base, token
    finally:
        _stop(proc); log.close()


def test_lab_serves_and_lists_the_kernel(lab):
    base, token = lab
    status, body = _get(f"{base}/lab", token)
    assert status == 200, f"/lab answered {status}"
    assert b"JupyterLab" in body
    status, body = _get(f"{base}/api/kernelspecs", token)
    assert status == 200, f"/api/kernelspecs answered {status}"
    specs = json.loads(body)["kernelspecs"]
    if KERNEL not in specs: pytest.fail(f"{NO_KERNEL} (the server lists {sorted(specs)})")
    assert Path(specs[KERNEL]["spec"]["argv"][0]).name.startswith("python")


def test_lab_rejects_a_wrong_token(lab):
    base, _ = lab
    assert _get(f"{base}/api/kernelspecs", "not-the-token")[0] == 403


def test_data_overview_runs_on_the_lab_kernel(tmp_path):
    from jupyter_client.kernelspec import KernelSpecManager
    import papermill as pm
    if KERNEL not in KernelSpecManager().find_kernel_specs(): pytest.fail(NO_KERNEL)
    assert OVERVIEW.is_file(), f"{OVERVIEW.relative_to(ROOT)} is missing"
    out_dir = tmp_path / "figures"
    pm.execute_notebook(str(OVERVIEW), str(tmp_path / "executed.ipynb"), kernel_name=KERNEL, cwd=str(ROOT),
                        parameters={"profile": "tiny", "out_dir": str(out_dir)}, progress_bar=False)
    written = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
    assert any(p.endswith(".html") for p in written), f"no .html figure in {out_dir}: {written}"
    assert any(p.endswith(".csv") for p in written), f"no .csv table in {out_dir}: {written}"
