"""The claims audit (neuralblitz_lab.validation.audit): every measured row reads an existing result file, the registry
covers >= 20 claims with valid verdicts, a row whose file is gone is reported, and the experiment page shows what the
files say (change a committed number and the page changes with it)."""
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT
from neuralblitz_lab.validation.audit import AUDIT, CLAIMS, VERDICTS, Claim, audit_summary, audit_table, json_at, missing_sources


@pytest.fixture(scope="module")
def table():
    return audit_table(ROOT)


def test_registry_size_and_verdicts(table):
    assert len(CLAIMS) >= 20 and len({c.id for c in CLAIMS}) == len(CLAIMS)
    assert set(table.verdict) <= set(VERDICTS)
    assert {c.seed for c in CLAIMS} == {"neuralblitz_paper.txt", "deep_manifold_slides.txt", "transformer_ae_report.txt", "neox_notes.txt", "README.md"}
    offline = table[[c.kind == "offline" for c in CLAIMS]]
    assert (offline.verdict == "not measurable offline").all() and len(offline) >= 3


def test_every_measured_row_has_its_source_and_a_number(table):
    assert missing_sources(table) == [], f"measured claims without a result file: {missing_sources(table)}; re-run their benchmark"
    measured = table[[c.kind == "measured" for c in CLAIMS]]
    assert measured.value.notna().all() and measured.verdict.isin(["holds", "fails"]).all()
    for link in measured.link:
        assert (ROOT / link).exists(), f"link {link} does not exist"


def test_a_row_pointing_to_a_missing_result_fails_the_audit(tmp_path):
    gone = Claim("T-gone", "neuralblitz_paper.txt", "§0", "x", "measured", "y", "bench/results/no_such_file.json", json_at("v"), bool)
    t = audit_table(ROOT, [gone, *CLAIMS[:2]])
    assert missing_sources(t) == ["T-gone"] and audit_summary(t)["missing_sources"] == 1


def test_page_numbers_come_from_the_result_files(tmp_path):
    "Run the experiment (profile tiny) on a copy of the project's results with one number changed: its row follows."
    import papermill as pm
    root = tmp_path / "proj"
    for rel in ("settings.ini", AUDIT, "bench/results/kernels-cuda.json"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True); shutil.copy(ROOT / rel, root / rel)
    meas = json.loads((root / AUDIT).read_text()); meas["gak_contraction"]["max_ratio"] = 0.5
    (root / AUDIT).write_text(json.dumps(meas))
    out = tmp_path / "fig"
    pm.execute_notebook(str(ROOT / "nbs/experiments/10_claims_audit.ipynb"), str(tmp_path / "run.ipynb"), cwd=str(ROOT), progress_bar=False,
                        parameters={"profile": "tiny", "out_dir": str(out), "root": str(root)})
    rows = pd.read_csv(out / "claims.csv").set_index("id")
    assert rows.loc["NB-GAK-contraction", "value"] == 0.5 and rows.loc["NB-GAK-contraction", "verdict"] == "holds"
    assert rows.loc["TAE-WW-alpha", "verdict"] == "not measured yet"  # its file is not in the copy
    assert (out / "verdicts_by_seed.html").is_file() and (out / "dnds_read_time.html").is_file()
