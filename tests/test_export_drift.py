"""neuralblitz_lab/ must be exactly what `nbdev_export` makes of nbs/: nobody edits the package by hand."""
import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBDEV_EXPORT = Path(sys.executable).parent / "nbdev_export"


def _copy_project(project: Path, dest: Path) -> Path:
    "Copy what nbdev_export reads and writes (settings.ini, nbs/**/*.ipynb, neuralblitz_lab/) from `project` to `dest`."
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(project / "settings.ini", dest / "settings.ini")
    for nb in (project / "nbs").rglob("*.ipynb"):
        if ".ipynb_checkpoints" in nb.parts: continue
        target = dest / "nbs" / nb.relative_to(project / "nbs")
        target.parent.mkdir(parents=True, exist_ok=True); shutil.copy2(nb, target)
    shutil.copytree(project / "neuralblitz_lab", dest / "neuralblitz_lab", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _py_files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in folder.rglob("*.py") if "__pycache__" not in p.parts}


def export_drift(project: Path, scratch: Path) -> list[str]:
    "Files of `project`/neuralblitz_lab that differ from a fresh `nbdev_export` of its notebooks (changed, missing or extra)."
    fresh = _copy_project(project, scratch)
    before = {k: p.read_bytes() for k, p in _py_files(fresh / "neuralblitz_lab").items()}
    subprocess.run([str(NBDEV_EXPORT)], cwd=fresh, check=True, capture_output=True, text=True)
    after = _py_files(fresh / "neuralblitz_lab")
    changed = [k for k, p in after.items() if k not in before or before[k] != p.read_bytes()]
    return sorted(changed + [k for k in before if k not in after])


def test_package_matches_notebooks(tmp_path):
    drift = export_drift(ROOT, tmp_path / "fresh")
    assert drift == [], (f"neuralblitz_lab/ differs from what nbdev_export makes of nbs/: {drift}. "
                         "Edit the notebooks in nbs/, run `make export` (nbdev_export), and commit both.")


def test_drift_check_catches_a_hand_edit(tmp_path):
    project = _copy_project(ROOT, tmp_path / "edited")
    core = project / "neuralblitz_lab" / "core.py"
    lines = core.read_text().splitlines(keepends=True)
    i = next(i for i, l in enumerate(lines) if l.startswith("def get_profile"))
    lines.insert(i, "# a hand edit that no notebook contains\n")
    core.write_text("".join(lines))
    assert export_drift(project, tmp_path / "fresh") == ["core.py"]
    assert not filecmp.cmp(core, ROOT / "neuralblitz_lab" / "core.py", shallow=False)


def test_notebooks_are_clean(tmp_path):
    "Every committed notebook is as `nbdev_clean` leaves it: no execution counts, widget state or editor metadata."
    copy = tmp_path / "clean"
    copy.mkdir(); shutil.copy2(ROOT / "settings.ini", copy / "settings.ini")
    shutil.copytree(ROOT / "nbs", copy / "nbs")
    for folder in sorted({p.parent.relative_to(copy).as_posix() for p in (copy / "nbs").rglob("*.ipynb")}):
        subprocess.run([str(NBDEV_EXPORT.with_name("nbdev_clean")), "--fname", folder], cwd=copy, check=True, capture_output=True)
    dirty = [p.relative_to(copy / "nbs").as_posix() for p in sorted((copy / "nbs").rglob("*.ipynb"))
             if p.read_bytes() != (ROOT / "nbs" / p.relative_to(copy / "nbs")).read_bytes()]
    assert dirty == [], f"run `.venv/bin/nbdev_clean --fname nbs` (and nbs/experiments) and commit: {dirty}"
