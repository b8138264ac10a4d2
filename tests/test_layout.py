"""The package layout is the architecture: subpackages by concept, one notebook per module, the README's module table
matching the tree, no zoo at the repository's top level."""
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

sys.path.insert(0, str(ROOT / "docs"))
from build_docs import experiment_notebooks, library_notebooks, module_name  # noqa: E402

SUBPACKAGES = {"zoo", "merge", "topology", "spectra", "curvature", "dynamics", "memory", "validation", "kernels"}


def _modules() -> set[str]:
    "Every module file of the package, as a dotted name below neuralblitz_lab (`zoo.train`; a package's __init__ as `zoo`)."
    pkg = ROOT / "neuralblitz_lab"
    out = set()
    for p in pkg.rglob("*.py"):
        if "__pycache__" in p.parts or p.name == "_modidx.py": continue
        rel = p.relative_to(pkg).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        if parts: out.add(".".join(parts))
    return out


def test_subpackages_are_folders_with_matching_notebook_folders():
    found = {p.name for p in (ROOT / "neuralblitz_lab").iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
    assert found == SUBPACKAGES, f"subpackages {sorted(found)} differ from the design's {sorted(SUBPACKAGES)}"
    for name in SUBPACKAGES:
        assert (ROOT / "nbs" / name).is_dir(), f"neuralblitz_lab/{name}/ has no notebook folder nbs/{name}/"


def test_every_module_has_exactly_one_notebook():
    exported = [module_name(nb) for nb in library_notebooks(ROOT)]
    dupes = sorted({m for m in exported if exported.count(m) > 1})
    assert dupes == [], f"modules exported by more than one notebook: {dupes}"
    assert set(exported) == _modules(), (f"modules without a notebook: {sorted(_modules() - set(exported))}; "
                                         f"notebooks without a module: {sorted(set(exported) - _modules())}")


def test_notebooks_live_in_their_subpackage_folder():
    for nb in library_notebooks(ROOT):
        mod, rel = module_name(nb), nb.relative_to(ROOT / "nbs")
        want = mod.split(".")[0] if "." in mod or mod in SUBPACKAGES else None
        got = rel.parts[0] if len(rel.parts) > 1 else None
        assert got == want, f"{rel} exports neuralblitz_lab.{mod}: it belongs in nbs/{want or ''}"


def test_readme_module_table_matches_the_tree():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| \[`([^`]+)`\]\((nbs/[^)]+)\) \| ([^|]+) \|", text, re.MULTILINE)
    listed = {path: mod.strip() for _, path, mod in rows}
    want = {nb.relative_to(ROOT).as_posix(): f"`neuralblitz_lab.{module_name(nb)}`" for nb in library_notebooks(ROOT)}
    want.update({nb.relative_to(ROOT).as_posix(): "—" for nb in experiment_notebooks(ROOT)})
    assert listed == want, (f"README module table: missing {sorted(set(want) - set(listed))}, stale {sorted(set(listed) - set(want))}, "
                            f"wrong module {sorted(k for k in want if k in listed and listed[k] != want[k])}")


def test_no_zoo_at_the_repository_top():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    top_zoos = sorted({p.split("/")[0] for p in tracked if p.endswith("manifest.json") and p.count("/") <= 1})
    assert top_zoos == [], f"a zoo is committed at the top of the repository: {top_zoos}; zoos belong in data/zoos/ (gitignored)"
