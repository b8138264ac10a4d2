"""Render the neuralblitz_lab docs site (MkDocs Material + mkdocs-jupyter + mkdocstrings), offline.

    .venv/bin/python docs/build_docs.py --out _docs        # what `make docs` runs

Pipeline (every step is a small function below; nothing here is part of the package):

1. **Library notebooks** (`nbs/[0-9]*.ipynb`, whatever exists): each is *executed first* with nbclient
   (kernel `neuralblitz_lab` when registered, else the venv's `python3`; cwd = project root; OMP_NUM_THREADS=1 unless
   set, as `make test` runs nbdev_test), skipping what
   `nbdev_test` skips: cells flagged with a `tst_flags` flag (`#| slow`, `#| gpu`), `#| eval: false` cells and
   `nbdev_export()` calls (which would rewrite `neuralblitz_lab/` mid-build). The executed notebook is then run
   through nbdev's doc processors (`FilterDefaults`: the per-notebook step of `nbdev_proc_nbs`): `#| hide` cells
   dropped, exported code replaced by `show_doc` signatures, title and summary turned into front matter.
   Executing *before* processing is deliberate: a processed notebook no longer holds its exported code nor its
   hidden imports, so it cannot run on its own. If processing fails, the executed notebook is used with its
   `#| hide` cells dropped (a warning says so).
   We do not call the `nbdev_proc_nbs` command: without Quarto it first tries `sudo` to install Quarto, then runs
   `pip install -e .[dev]` with whichever `pip` is first on PATH (outside the venv that is the system Python), and
   it rewrites `nbs/_quarto.yml`, `nbs/sidebar.yml` and `neuralblitz_lab/_modidx.py`.
2. **Experiments** (`nbs/experiments/*.ipynb`, drafts starting with `_` skipped): the executed copy under
   `papermill_runs/small/` when there is one, else `papermill_runs/tiny/`, else a papermill run with
   `profile="tiny"` and `out_dir` in a temporary folder.
3. **Tidying** for mkdocs-jupyter: front matter -> `# Title` + `> summary`; `#| echo: false` cells get the
   `remove_input` tag; directive lines are stripped; ipywidgets state is dropped (it needs a CDN); show_doc's
   Pandoc link attributes become HTML; nbdev's links to the Quarto site point at our pages; every plotly output (`application/vnd.plotly.v1+json`, what core's
   `setup_plotting()` stores) gets a `text/html` version without plotly.js.
4. **Staging** in `_docs_src/` (gitignored, emptied each time; `--staging` moves it; scratch in its `.build/`):
   the notebooks, `index.md` from README.md (local images copied along, links to notebooks pointed at their
   pages), one mkdocstrings page per package module (`api/<module>.md`), and ONE copy of `plotly.min.js` from
   the installed plotly package (`assets/javascripts/`), which `docs/overrides/main.html` loads in the `<head>`
   of pages holding a figure (the figures' inline scripts call `Plotly.newPlot` while the page is parsed), and MathJax 3
   (`assets/javascripts/mathjax/`, from the `django-static-mathjax` wheel), which main.html loads on pages with math:
   notebook Markdown keeps its `$...$` / `$$...$$` as written (nbconvert protects it), docstrings on the API pages get
   `pymdownx.arithmatex` (generic mode: `\\(...\\)` / `\\[...\\]` in `arithmatex` spans); MathJax typesets both in the browser.
5. **MkDocs** builds `mkdocs.yml` with the generated nav (Home, Library, Experiments, API) into `--out`;
   `docs/hooks.py` drops nbconvert's MathJax tag (a CDN or empty `src`: the site's own MathJax replaces it) and fails
   the build if any page still loads a remote script or stylesheet, so the site works without network.
"""
from __future__ import annotations

import argparse
import json
import os
import pkgutil
import re
import shutil
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from configparser import ConfigParser
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PLOTLY_JS = "assets/javascripts/plotly.min.js"  # where the single copy lives in the site
MATHJAX_DIR = "assets/javascripts/mathjax"  # MathJax 3: docs/overrides/main.html loads <this>/tex-chtml.js
# What tex-chtml.js needs from MathJax's es5/ folder: itself (TeX input, CommonHTML output, menu, assistive MathML), the
# TeX extensions it autoloads (\boldsymbol, \cancel, ...), the CommonHTML fonts, and what the menu's options load.
MATHJAX_PARTS = ("tex-chtml.js", "input/tex/extensions", "output/chtml", "ui", "a11y", "sre")
REMOVE_INPUT_TAG = "remove_input"  # mkdocs.yml's remove_tag_config hides the input of cells with this tag
SKIP_TAG = "skip-execution"  # nbclient's default `skip_cells_with_tag`
RUN_PROFILES = ("small", "tiny")  # executed experiment runs we reuse, in order of preference
_DIRECTIVE = re.compile(r"^\s*#\|\s*([\w-]+:?)\s*(.*?)\s*$")


def log(msg: str) -> None:
    "One progress line on stderr (this is a command-line tool)."
    # sys.__stderr__: nbdev's show_doc step swaps sys.stderr while it runs, and workers log meanwhile
    print(f"[docs] {msg}", file=sys.__stderr__, flush=True)


def read_settings(root: Path = ROOT) -> dict[str, str]:
    "The `[DEFAULT]` section of settings.ini as a dict."
    cfg = ConfigParser(delimiters=["="])
    cfg.read(root / "settings.ini", encoding="utf-8")
    return dict(cfg["DEFAULT"])


# ---------------------------------------------------------------- finding notebooks
def library_notebooks(root: Path = ROOT) -> list[Path]:
    "The library notebooks `nbs/[0-9]*.ipynb` and `nbs/<subpackage>/[0-9]*.ipynb` (not experiments), in reading order."
    nbs = root / "nbs"
    found = [p for p in nbs.rglob("[0-9]*.ipynb") if p.parent == nbs or p.parent.parent == nbs]
    found = [p for p in found if p.parent.name != "experiments" and not p.parent.name.startswith(("_", "."))]
    return sorted(found, key=lambda p: reading_key(p.relative_to(nbs)))


GROUP_ORDER = ("zoo", "merge", "topology", "spectra", "curvature", "dynamics", "memory", "validation", "kernels")  # data flow


def reading_key(rel: Path) -> tuple:
    "Sort key of a notebook path below nbs/: top-level 0x foundations, subpackages in data-flow order, then 8x/9x."
    if len(rel.parts) == 1: return (0 if rel.name < "50" else 2, 0, rel.name)
    group = rel.parts[0]
    return (1, GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER), group, rel.name)


def library_key(nb_path: Path, root: Path = ROOT) -> str:
    "A library notebook's path below nbs/ (`zoo/01_train.ipynb`): unique, where stems repeat across folders."
    return nb_path.relative_to(root / "nbs").as_posix()


def experiment_notebooks(root: Path = ROOT) -> list[Path]:
    "The experiment notebooks `nbs/experiments/*.ipynb`, in name order (drafts `_*` skipped)."
    return sorted(p for p in (root / "nbs" / "experiments").glob("*.ipynb") if not p.name.startswith(("_", ".")))


def module_name(nb_path: Path) -> str:
    "The module a library notebook exports (`#| default_exp`), else its stem without the number prefix."
    for cell in nbformat.read(nb_path, as_version=4).cells:
        m = re.search(r"^#\|\s*default_exp\s+(\S+)", cell.source, re.MULTILINE) if cell.cell_type == "code" else None
        if m: return re.sub(r"\.__init__$", "", m.group(1))  # a subpackage's API notebook documents the package
    return re.sub(r"^\d+[_-]", "", nb_path.stem)


def package_modules(package: str) -> list[str]:
    "Every public module of `package` (subpackages included), from the package's own module list."
    pkg = __import__(package)
    names = [m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}.")]
    return sorted(n for n in names if not any(part.startswith("_") for part in n.split(".")))


# ---------------------------------------------------------------- execution
def directives(cell) -> dict[str, str]:
    "The leading `#| key value` lines of a code cell as {key: value} (keys keep nbdev's trailing ':')."
    out = {}
    for line in cell.source.splitlines():
        m = _DIRECTIVE.match(line)
        if not m: break
        out[m.group(1)] = m.group(2)
    return out


def skip_flags(settings: dict[str, str]) -> set[str]:
    "The `tst_flags` of settings.ini (`slow|gpu` or `slow gpu`): cells carrying one are not executed."
    return {f for f in re.split(r"[|,\s]+", settings.get("tst_flags", "")) if f}


def tag_unexecuted_cells(nb, flags: set[str]) -> int:
    "Tag (nbclient's skip tag) the cells nbdev_test would not run; return how many."
    n = 0
    for cell in nb.cells:
        if cell.cell_type != "code": continue
        d = directives(cell)
        if flags & d.keys() or d.get("eval:", "").lower() == "false" or "nbdev_export(" in cell.source:
            cell.metadata.setdefault("tags", []).append(SKIP_TAG); n += 1
    return n


def kernel_name() -> str:
    "`neuralblitz_lab` (registered by `make install`) when present, else the venv's `python3`."
    from jupyter_client.kernelspec import KernelSpecManager
    return "neuralblitz_lab" if "neuralblitz_lab" in KernelSpecManager().find_kernel_specs() else "python3"


def execute_library_notebook(src: Path, dest: Path, flags: set[str], kernel: str, root: Path = ROOT) -> Path:
    "Execute `src` with nbclient (cwd `root`, skipped cells tagged) and write it to `dest`."
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.read(src, as_version=4)
    tag_unexecuted_cells(nb, flags)
    try: NotebookClient(nb, kernel_name=kernel, timeout=1200, resources={"metadata": {"path": str(root)}}).execute()
    except CellExecutionError as e:
        raise RuntimeError(f"{src} failed to execute (run `nbdev_test --path {src}` to see it alone):\n{e}") from None
    for cell in nb.cells:  # skipped cells say so the nbdev way, so nbdev's show_doc step does not run them either
        tags = cell.metadata.get("tags", [])
        if SKIP_TAG not in tags: continue
        tags.remove(SKIP_TAG)
        if not tags: cell.metadata.pop("tags")
        if "eval:" not in directives(cell): cell.source = "#| eval: false\n" + cell.source
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def run_experiment(src: Path, dest: Path, out_dir: Path, kernel: str, root: Path = ROOT) -> Path:
    "Execute an experiment notebook with papermill (`profile='tiny'`, `out_dir`) into `dest`."
    import papermill as pm
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(str(src), str(dest), parameters={"profile": "tiny", "out_dir": str(out_dir)},
                            kernel_name=kernel, cwd=str(root), progress_bar=False, log_output=False)
    except pm.PapermillExecutionError as e:
        raise RuntimeError(f"{src} failed under papermill (profile tiny); its executed copy is {dest}:\n{e}") from None
    return dest


def experiment_run(src: Path, root: Path = ROOT) -> Path | None:
    "The executed copy of experiment `src` under `papermill_runs/<profile>/` (small preferred), if any."
    return next((p for prof in RUN_PROFILES if (p := root / "papermill_runs" / prof / src.name).is_file()), None)


# ---------------------------------------------------------------- nbdev processing
def nbdev_process(executed: Path, dest: Path) -> dict:
    "Run nbdev's doc processors (`FilterDefaults`, as `nbdev_proc_nbs` does) on `executed`; write `dest`."
    from execnb.nbio import read_nb, write_nb
    from nbdev.processors import FilterDefaults
    nb = read_nb(executed)
    FilterDefaults()(nb)
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_nb(nb, dest)
    return nbformat.read(dest, as_version=4)


def drop_hidden_cells(nb) -> None:
    "The fallback processing: drop `#| hide` cells (and `nbdev_export()` calls), keep the rest as written."
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and ("hide" in directives(c) or "nbdev_export(" in c.source))]


def frontmatter_to_markdown(nb) -> None:
    "Replace nbdev's YAML front matter (raw cell) by a markdown `# title` and `> description` cell."
    import yaml
    for i, cell in enumerate(nb.cells):
        m = re.match(r"^---\s*\n(.*?)\n---", cell.source, re.DOTALL) if cell.cell_type == "raw" else None
        if not m: continue
        fm = yaml.safe_load(m.group(1)) or {}
        text = f"# {fm.get('title', '')}\n\n> {fm.get('description', '')}".rstrip("> \n")
        nb.cells[i] = nbformat.v4.new_markdown_cell(text)
        return


# ---------------------------------------------------------------- tidying for mkdocs-jupyter
def tidy_cells(nb) -> None:
    "Tag `#| echo: false` cells to hide their input, strip directive lines, drop empty code cells and widgets."
    keep = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            if directives(cell).get("echo:", "").lower() == "false":
                cell.metadata.setdefault("tags", []).append(REMOVE_INPUT_TAG)
            cell.source = "\n".join(l for l in cell.source.splitlines() if not _DIRECTIVE.match(l)).strip("\n")
            if not cell.source and not cell.get("outputs"): continue
        keep.append(cell)
    nb.cells = keep
    drop_widgets(nb)


def drop_widgets(nb) -> None:
    "Drop ipywidgets state and views (tqdm bars...): rendering them needs the widget manager from a CDN (unpkg)."
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_MIME in data and len(data) > 1: data.pop(WIDGET_MIME)  # the text/plain version stays
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if set(o.get("data", {"x": 0})) != {WIDGET_MIME}]


def plotly_outputs_to_html(nb) -> int:
    "Give every plotly JSON output a `text/html` version (no plotly.js inside: the site ships one copy); return the count."
    import plotly.io as pio
    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            fig = out.get("data", {}).get(PLOTLY_MIME)
            if fig is None or "text/html" in out["data"]: continue
            fig = json.loads(fig) if isinstance(fig, str) else fig
            fig = {k: fig[k] for k in ("data", "layout", "frames") if k in fig}  # config is passed separately
            out["data"]["text/html"] = pio.to_html(fig, include_plotlyjs=False, full_html=False, validate=False,
                                                   config={"responsive": True})
            n += 1
    return n


def relink(nb, settings: dict[str, str], pages: dict[str, str]) -> None:
    "Point nbdev's links to the Quarto site (`{doc_host}{doc_baseurl}/core.html#x`) at our library pages."
    base = re.escape(settings.get("doc_host", "").rstrip("/") + settings.get("doc_baseurl", ""))
    pat = re.compile(base + r"/([\w.-]+)\.html")
    sub = lambda m: f"{pages[m.group(1)]}.html" if m.group(1) in pages else m.group(0)
    for cell in nb.cells:
        if cell.cell_type == "markdown": cell.source = pat.sub(sub, cell.source)
        for out in cell.get("outputs", []):
            md = out.get("data", {}).get("text/markdown")
            if md is not None: out["data"]["text/markdown"] = pat.sub(sub, md if isinstance(md, str) else "".join(md))


def pandoc_attrs_to_html(nb) -> None:
    "show_doc's `[source](url){target=... style=...}` is Pandoc (Quarto) syntax: make it an HTML link."
    pat = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)\{([^}]*)\}")
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            md = out.get("data", {}).get("text/markdown")
            if md is not None:
                md = md if isinstance(md, str) else "".join(md)
                out["data"]["text/markdown"] = pat.sub(lambda m: f'<a href="{m.group(2)}" {m.group(3)}>{m.group(1)}</a>', md)


def notebook_title(nb, default: str) -> str:
    "The first `# heading` of the notebook's markdown, else `default`."
    for cell in nb.cells:
        m = re.search(r"^#\s+(.+?)\s*$", cell.source, re.MULTILINE) if cell.cell_type == "markdown" else None
        if m: return m.group(1)
    return default


# ---------------------------------------------------------------- staging
def write_home(root: Path, staging: Path, settings: dict[str, str], pages: dict[str, str]) -> None:
    "README.md -> index.md: local images copied along; links to notebooks point at their pages, other repo files at git_url."
    text = (root / "README.md").read_text(encoding="utf-8")
    for m in re.finditer(r"!\[[^\]]*\]\(([^)\s]+)|<img[^>]+src=\"([^\"]+)\"", text):
        rel = m.group(1) or m.group(2)
        src = (root / rel).resolve()
        if "://" not in rel and src.is_file() and src.is_relative_to(root):
            (staging / rel).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(src, staging / rel)
    blob = f"{settings.get('git_url', '').rstrip('/')}/blob/{settings.get('branch', 'main')}/"
    def _link(m):
        label, rel = m.group(1), m.group(2)
        if label.startswith("!"): return m.group(0)  # images were copied above
        if rel in pages: return f"{label}({pages[rel]})"
        inside = (root / rel).resolve().is_relative_to(root) and (root / rel).exists()
        return f"{label}({blob}{rel})" if inside else m.group(0)
    text = re.sub(r"(!?\[[^\]]*\])\((?!\w+://|#|mailto:)([^)\s#]+)\)", _link, text)
    (staging / "index.md").write_text(text, encoding="utf-8")


def write_api_pages(staging: Path, modules: list[str]) -> list[dict]:
    "One mkdocstrings page per module (`api/<module>.md`); return their nav entries."
    (staging / "api").mkdir(parents=True, exist_ok=True)
    nav = []
    for mod in modules:
        short = mod.split(".", 1)[1]
        (staging / "api" / f"{short}.md").write_text(f"# `{mod}`\n\n::: {mod}\n", encoding="utf-8")
        nav.append({short: f"api/{short}.md"})
    return nav


def copy_plotly_js(staging: Path) -> Path:
    "Copy the installed plotly package's plotly.min.js into the site (the only copy; never a CDN)."
    import plotly
    src = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    dest = staging / PLOTLY_JS
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)
    return dest


def mathjax_source() -> Path:
    "MathJax 3's `es5/` folder, from the `django-static-mathjax` wheel (a dev requirement in settings.ini; no Django needed)."
    try:
        import mathjax  # the wheel's import name: a Django app folder holding static/mathjax/ (MathJax 3.2.2, all of es5/)
    except ImportError:
        raise SystemExit("docs: MathJax is not installed (run `make install`: settings.ini's dev_requirements has "
                         "django-static-mathjax); the site renders math with the local copy, never a CDN") from None
    src = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (src / "tex-chtml.js").is_file(): raise SystemExit(f"docs: no MathJax 3 in {src} (is `mathjax` another package?)")
    return src


def copy_mathjax(staging: Path) -> Path:
    "Copy MathJax (`MATHJAX_PARTS` of its es5/ folder, ~7 MB) into the site; pages with math load it from there."
    src, dest = mathjax_source(), staging / MATHJAX_DIR
    for part in MATHJAX_PARTS:
        (dest / part).parent.mkdir(parents=True, exist_ok=True)
        if (src / part).is_dir(): shutil.copytree(src / part, dest / part)
        else: shutil.copy2(src / part, dest / part)
    return dest


def stage_notebook(nb, dest: Path, settings: dict[str, str], library_pages: dict[str, str]) -> tuple[str, int]:
    "Tidy `nb`, write it to `dest`; return (title, number of plotly figures)."
    frontmatter_to_markdown(nb)
    nb.nbformat_minor = max(nb.nbformat_minor, 5)
    for cell in nb.cells: cell.setdefault("id", nbformat.v4.new_code_cell().id)  # execnb drops cell ids
    tidy_cells(nb)
    pandoc_attrs_to_html(nb)
    n_figs = plotly_outputs_to_html(nb)
    prefix = "" if dest.parent.name == "library" else "../library/"  # pages are <section>/<name>.html
    relink(nb, settings, {m: prefix + m for m in library_pages.values()})
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return notebook_title(nb, dest.stem), n_figs


# ---------------------------------------------------------------- the pipeline
def execute_library(src: Path, work: Path, flags: set[str], kernel: str, root: Path) -> Path:
    "Execute one library notebook (in a worker thread: the kernel is its own process); return the executed copy."
    t = time.time()
    rel = library_key(src, root)  # not src.name: every subpackage folder has its 99_api.ipynb, and they run in parallel
    executed = execute_library_notebook(src, work / "executed" / rel, flags, kernel, root)
    log(f"library    {rel}: executed in {time.time() - t:.1f} s")
    return executed


def process_library(executed: Path, work: Path):
    "nbdev-process one executed library notebook, else fall back to it as written; return it (nbformat)."
    # Main thread only: nbdev's show_doc step runs the notebook's exports in-process and swaps sys.stdout.
    t, rel = time.time(), executed.relative_to(work / "executed")
    try:
        nb = nbdev_process(executed, work / "processed" / rel)
    except Exception as e:  # noqa: BLE001 - any processor failure falls back to the raw notebook
        warnings.warn(f"nbdev processing of {rel} failed ({type(e).__name__}: {e}); using the executed notebook as written")
        nb = nbformat.read(executed, as_version=4); drop_hidden_cells(nb)
    log(f"library    {rel}: processed in {time.time() - t:.1f} s")
    return nb


def process_experiment(src: Path, work: Path, kernel: str, root: Path):
    "An experiment's executed notebook: from papermill_runs/ when present, else a fresh tiny run."
    t = time.time()
    run = experiment_run(src, root)
    if run is None:
        with tempfile.TemporaryDirectory(prefix=f"nblab-docs-{src.stem}-") as out_dir:  # its figures are not needed
            run = run_experiment(src, work / "experiments" / src.name, Path(out_dir), kernel, root)
        log(f"experiment {src.name}: executed with papermill (profile tiny) in {time.time() - t:.1f} s")
    else:
        log(f"experiment {src.name}: using {run.relative_to(root)}")
    return nbformat.read(run, as_version=4)


def check_own_folder(folder: Path, root: Path, flag: str) -> Path:
    "`folder` resolved, unless emptying it (staging is emptied, MkDocs empties the site) would hit the project."
    folder, root = Path(folder).resolve(), root.resolve()
    if root.is_relative_to(folder) or (folder / "settings.ini").exists() or folder in (root / "nbs", root / "docs"):
        raise SystemExit(f"{flag} {folder}: the build empties it, and it holds project files; pick a folder of its own")
    return folder


def build(out: Path, root: Path = ROOT, staging: Path | None = None, workers: int = 2) -> Path:
    "Stage every page and build the site into `out`; return `out`."
    staging = check_own_folder(staging or root / "_docs_src", root, "--staging")
    out = check_own_folder(out, root, "--out")
    shutil.rmtree(staging, ignore_errors=True)
    work = staging / ".build"  # scratch (executed and processed notebooks); MkDocs skips dot-folders
    work.mkdir(parents=True)
    os.environ["IN_TEST"] = "1"  # as nbdev_test and nbdev's docs driver set: nbdev_export() is then a no-op, kernels too
    # One intra-op thread per kernel, as `make test` runs nbdev_test: `workers` kernels share the cores (2 on CI), and a
    # notebook's exact-equality tests then see the numbers nbdev_test saw (zoo/01_train's did not with 2 threads).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    settings, kernel = read_settings(root), kernel_name()
    flags = skip_flags(settings)
    libs, exps = library_notebooks(root), experiment_notebooks(root)
    library_pages = {library_key(p, root): module_name(p) for p in libs}  # nbs/-relative path -> page name (the module)
    log(f"{len(libs)} library notebook(s), {len(exps)} experiment(s); kernel {kernel!r}; skipping cells flagged {sorted(flags)}")
    with ThreadPoolExecutor(max_workers=workers) as pool:  # kernels run in parallel; nbdev processing does not
        lib_jobs = [pool.submit(execute_library, p, work, flags, kernel, root) for p in libs]
        exp_jobs = [pool.submit(process_experiment, p, work, kernel, root) for p in exps]
        lib_nbs = [process_library(j.result(), work) for j in lib_jobs]  # as each finishes, while others run
        exp_nbs = [j.result() for j in exp_jobs]
    nav_lib, nav_exp, n_figs = [], [], 0
    sections: dict[str, list] = {}
    for src, nb in zip(libs, lib_nbs):
        page = library_pages[library_key(src, root)]
        title, n = stage_notebook(nb, staging / "library" / f"{page}.ipynb", settings, library_pages)
        rel = Path(library_key(src, root))
        entry = {title: f"library/{page}.ipynb"}; n_figs += n
        if len(rel.parts) == 1: nav_lib.append(entry)
        else:
            if rel.parts[0] not in sections: sections[rel.parts[0]] = []; nav_lib.append({f"{rel.parts[0]}/": sections[rel.parts[0]]})
            sections[rel.parts[0]].append(entry)
    for src, nb in zip(exps, exp_nbs):
        title, n = stage_notebook(nb, staging / "experiments" / src.name, settings, library_pages)
        nav_exp.append({title: f"experiments/{src.name}"}); n_figs += n
    pages = {f"nbs/{library_key(p, root)}": f"library/{library_pages[library_key(p, root)]}.ipynb" for p in libs}
    pages.update({f"nbs/experiments/{p.name}": f"experiments/{p.name}" for p in exps})
    write_home(root, staging, settings, pages)
    nav_api = write_api_pages(staging, package_modules(settings["lib_name"]))
    copy_plotly_js(staging)
    copy_mathjax(staging)
    log(f"staged {len(libs)} library page(s), {len(nav_exp)} experiment page(s), {len(nav_api)} API page(s), {n_figs} plotly figure(s)")
    nav = [{"Home": "index.md"}] + [{k: v} for k, v in (("Library", nav_lib), ("Experiments", nav_exp), ("API", nav_api)) if v]
    return mkdocs_build(root / "mkdocs.yml", staging, out, nav)


def mkdocs_build(config_file: Path, staging: Path, out: Path, nav: list) -> Path:
    "Build `config_file` with `staging` as docs_dir, `out` as site_dir and the generated `nav`."
    from mkdocs.commands.build import build as _build
    from mkdocs.config import load_config
    t = time.time()
    cfg = load_config(str(config_file), docs_dir=str(staging.resolve()), site_dir=str(out.resolve()), nav=nav)
    cfg.plugins.on_startup(command="build", dirty=False)
    try: _build(cfg)
    finally: cfg.plugins.on_shutdown()
    log(f"mkdocs build in {time.time() - t:.1f} s")
    return out


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=nbformat.validator.MissingIDFieldWarning)  # execnb writes no cell ids
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="_docs", help="site folder (relative to the project root unless absolute)")
    parser.add_argument("--staging", default="_docs_src", help="where the pages are staged (emptied first)")
    parser.add_argument("--workers", type=int, default=2, help="notebooks executed at once")
    args = parser.parse_args(argv)
    t = time.time()
    os.chdir(ROOT)  # nbdev's config and the kernels' paths are relative to the project root
    out = build(ROOT / args.out, ROOT, staging=ROOT / args.staging, workers=args.workers)
    print(f"docs site written to {out.resolve()} (open {out.resolve() / 'index.html'}) in {time.time() - t:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
