"""`nblab` end to end: the console script, a batch with a failing notebook, the real data overview run twice."""
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NBLAB = Path(sys.executable).parent / "nblab"


def nblab(*args, cwd=ROOT, env=None):
    return subprocess.run([str(NBLAB), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def make_experiment(path: Path, fail: bool = False) -> Path:
    "A minimal experiment notebook: parameters cell, one table written to out_dir, an optional deliberate failure."
    params = nbformat.v4.new_code_cell('profile = "small"\nseed = 0\nout_dir = None\nmnist_dir = None')
    params.metadata["tags"] = ["parameters"]
    body = ("from pathlib import Path\nPath(out_dir).mkdir(parents=True, exist_ok=True)\n"
            "(Path(out_dir) / 'params.json').write_text(__import__('json').dumps({'profile': profile, 'seed': seed}))\n")
    if fail: body += "raise RuntimeError('deliberate failure')\n"
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_help_lists_commands():
    r = nblab("--help")
    assert r.returncode == 0 and "reproduce" in r.stdout


def test_batch_goes_on_after_a_failure_and_names_it(tmp_path):
    exp = tmp_path / "experiments"; exp.mkdir()
    make_experiment(exp / "00_broken.ipynb", fail=True); make_experiment(exp / "01_fine.ipynb")
    r = nblab("reproduce", "--profile", "tiny", "--seed", "3", "--root", tmp_path / "out", "--experiments", exp, "--no-progress")
    assert r.returncode == 1
    assert "1 experiment(s) failed: 00_broken" in r.stderr and "RuntimeError: deliberate failure" in r.stderr
    assert json.loads((tmp_path / "out/figures/01_fine/params.json").read_text()) == {"profile": "tiny", "seed": 3}
    m = json.loads((tmp_path / "out/papermill_runs/tiny/00_broken.manifest.json").read_text())
    assert m["status"] == "failed" and "deliberate failure" in m["error"]
    assert f"figures and tables of 01_fine: {tmp_path / 'out/figures/01_fine'}" in r.stdout


def test_data_overview_tiny_then_skipped(tmp_path):
    args = ("reproduce", "--profile", "tiny", "--only", "00_data_overview", "--root", tmp_path, "--no-progress")
    first = nblab(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    runs, figs = tmp_path / "papermill_runs/tiny", tmp_path / "figures/00_data_overview"
    assert (runs / "00_data_overview.ipynb").is_file()
    manifest = json.loads((runs / "00_data_overview.manifest.json").read_text())
    assert manifest["status"] == "success" and manifest["parameters"]["profile"] == "tiny"
    kinds = {Path(f).suffix for f in manifest["outputs"]}
    assert {".html", ".csv", ".md"} <= kinds, kinds
    assert all((figs / f).is_file() for f in manifest["outputs"])
    second = nblab(*args)
    assert second.returncode == 0 and "up to date, skipped" in second.stderr
    assert "00_data_overview            skipped" in second.stdout
