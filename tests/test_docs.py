"""The docs site end to end: `docs/build_docs.py` builds it (once per session, into a temp folder), a local HTTP
server serves it, and headless Chromium opens it with every non-local request blocked, as on a machine offline."""
import ast
import functools
import http.server
import os
import re
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from conftest import ROOT

sys.path.insert(0, str(ROOT / "docs"))
from build_docs import experiment_notebooks, library_notebooks, module_name  # noqa: E402  (the pages the site builds)

LIBRARY = library_notebooks(ROOT)
EXPERIMENTS = experiment_notebooks(ROOT)
FIGURE = ".js-plotly-plot .main-svg"
# TeX as the sources write it: $$...$$, or an inline $...$ holding a TeX-ish character (so shell `$VAR`s do not count)
TEX = re.compile(r"\$\$.+?\$\$|\$[^$\s][^$\n]*?[\\^_{][^$\n]*?\$", re.DOTALL)


def _module(nb_path: Path) -> str:
    "The module a library notebook exports (its `#| default_exp`)."
    src = nb_path.read_text(encoding="utf-8")
    m = re.search(r"#\|\s*default_exp\s+([\w.]+)", src)
    assert m, f"{nb_path.name} has no `#| default_exp` cell"
    return module_name(nb_path)


def _markdown_math(nb_path: Path) -> int:
    "How many TeX formulas the notebook's markdown cells hold."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cells = nbformat.read(nb_path, as_version=4).cells
    return sum(len(TEX.findall(c.source)) for c in cells if c.cell_type == "markdown")


def _docstring_math(module: str) -> int:
    "How many TeX formulas the module's docstrings (module, classes, functions, methods) hold."
    path = ROOT / "neuralblitz_lab" / (module.replace(".", "/") + ".py")
    if not path.is_file(): path = path.with_suffix("") / "__init__.py"
    if not path.is_file(): return 0  # not exported yet: test_library_page_has_title reports the missing page
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escapes in someone's non-raw string are not this test's business
        tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return sum(len(TEX.findall(ast.get_docstring(n) or "")) for n in nodes)


def _title(nb_path: Path) -> str:
    "The notebook's `# Title` (its first level-1 markdown heading)."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbdev_clean strips cell ids; nbformat warns about it
        cells = nbformat.read(nb_path, as_version=4).cells
    for cell in cells:
        m = re.search(r"^#\s+(.+?)\s*$", cell.source, re.MULTILINE) if cell.cell_type == "markdown" else None
        if m: return m.group(1)
    pytest.fail(f"{nb_path.name} has no `# Title` markdown cell")


@pytest.fixture(scope="session")
def site(tmp_path_factory, python) -> Path:
    """The site, built by the docs script as `make docs` runs it (staging in a temp folder too); NBLAB_DOCS_SITE=<folder>
    tests a site built before instead (to iterate on these tests without a 7-minute build)."""
    if os.environ.get("NBLAB_DOCS_SITE"): return Path(os.environ["NBLAB_DOCS_SITE"])
    tmp = tmp_path_factory.mktemp("docs")
    cmd = [python, "docs/build_docs.py", "--out", str(tmp / "site"), "--staging", str(tmp / "src")]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert res.returncode == 0, f"docs build failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-6000:]}"
    assert "docs site written to" in res.stdout
    return tmp / "site"


@pytest.fixture(scope="session")
def server(site):
    "Base URL of a local HTTP server on a free port serving the site."
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))  # a free port
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown(); httpd.server_close()


@pytest.fixture
def page(browser, server):
    "A fresh browser page; any request leaving the local server is aborted and recorded in `page.remote`."
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.remote, pg.errors = [], []
    local = urlparse(server).netloc
    def _route(route):
        url = route.request.url
        if urlparse(url).netloc == local or url.startswith(("data:", "blob:")): return route.continue_()
        pg.remote.append(url); return route.abort()
    pg.route("**/*", _route)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.missing = []  # local files the page asked for and the server lacks (a MathJax component not shipped, ...)
    pg.on("response", lambda r: r.status >= 400 and pg.missing.append(f"{r.status} {r.url}"))
    yield pg
    context.close()


def _open(page, server, path: str):
    resp = page.goto(f"{server}/{path}", wait_until="load")
    assert resp is not None and resp.status == 200, f"{path}: HTTP {resp and resp.status}"
    return resp


def test_index_loads_offline(page, server):
    _open(page, server, "index.html")
    assert "neuralblitz_lab" in page.title()
    nav = page.inner_text("nav.md-nav--primary")
    for section in ("Home", "Library", "API") + (("Experiments",) if EXPERIMENTS else ()):
        assert section in nav, f"nav lacks {section!r}: {nav[:300]!r}"
    assert page.remote == [], f"the index requested remote resources: {page.remote}"


@pytest.mark.parametrize("nb_path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_page(page, server, nb_path):
    _open(page, server, f"experiments/{nb_path.stem}.html")
    assert page.inner_text("article h1").strip().rstrip("¶").strip() == _title(nb_path)
    assert page.locator(".jp-OutputArea-output").count() > 0, "the experiment page shows no outputs: was it executed?"
    assert page.remote == [], f"experiments/{nb_path.stem}.html requested remote resources: {page.remote}"


@pytest.mark.parametrize("nb_path", LIBRARY, ids=[p.relative_to(ROOT / "nbs").as_posix() for p in LIBRARY])
def test_library_page_has_title(page, server, nb_path):
    module = _module(nb_path)
    _open(page, server, f"library/{module}.html")
    title = _title(nb_path)
    assert page.inner_text("article h1").strip().rstrip("¶").strip() == title
    assert title in page.title()
    assert page.remote == [], f"library/{module}.html requested remote resources: {page.remote}"
    _open(page, server, f"api/{module}.html")  # and its API reference page
    assert f"neuralblitz_lab.{module}" in page.inner_text("article h1")


def _figure_page(site: Path) -> str:
    "The data-overview experiment's page, else the first page holding a plotly figure."
    overview = site / "experiments" / "00_data_overview.html"
    pages = [overview] + sorted(site.rglob("*.html"))
    hit = next((p for p in pages if p.is_file() and "plotly-graph-div" in p.read_text(encoding="utf-8")), None)
    assert hit is not None, "no page of the site holds a plotly figure (expected the data overview experiment's)"
    return hit.relative_to(site).as_posix()


def test_plotly_js_shipped_once(site):
    copies = [p.relative_to(site).as_posix() for p in site.rglob("*.js") if "plotly" in p.name]
    assert copies == ["assets/javascripts/plotly.min.js"], copies
    inlined = [p.name for p in site.rglob("*.html") if "plotly.js v" in p.read_text(encoding="utf-8")[:3_000_000]]
    assert inlined == [], f"pages inlining plotly.js: {inlined}"


def test_plotly_figure_renders(page, server, site):
    path = _figure_page(site)
    _open(page, server, path)
    try: page.wait_for_selector(FIGURE, state="attached", timeout=30_000)
    except PlaywrightTimeout:  # what happens when plotly.js is not loaded before the figures' inline scripts
        pytest.fail(f"no rendered plotly figure ({FIGURE}) on {path} within 30 s; page errors: {page.errors[:3]}")
    assert page.remote == [], f"{path} requested remote resources: {page.remote}"
    assert not [e for e in page.errors if "Plotly" in e], page.errors
    fig = page.locator(".js-plotly-plot").first
    fig.scroll_into_view_if_needed()
    shot = Path(tempfile.mkdtemp(prefix="nblab-docs-shot-")) / "figure.png"
    fig.screenshot(path=str(shot))
    print(f"\nscreenshot of the first figure on {path}: {shot}")
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    n_colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100, f"figure is only {pixels.shape[1]}x{pixels.shape[0]} px"
    assert pixels.std() > 10 and n_colours > 20, f"blank figure ({shot}): std {pixels.std():.1f}, {n_colours} colours"


# Pages holding math: library pages whose notebook Markdown has TeX, API pages whose docstrings have TeX, with the
# number of formulas. The browser test opens the 3 of each with the most formulas (a few seconds); NBLAB_DOCS_ALL_MATH=1
# opens every one of them (49 pages, about a minute).
_MATH_LIB = {f"library/{_module(p)}.html": _markdown_math(p) for p in LIBRARY}
_MATH_API = {f"api/{_module(p)}.html": _docstring_math(_module(p)) for p in LIBRARY}
MATH_PAGES = sorted(k for d in (_MATH_LIB, _MATH_API) for k, n in d.items() if n)
MATH_SAMPLE = MATH_PAGES if os.environ.get("NBLAB_DOCS_ALL_MATH") else sorted(
    k for d in (_MATH_LIB, _MATH_API) for k in sorted((k for k in d if d[k]), key=lambda k: -d[k])[:3])
# The article's text a reader sees outside code and typeset formulas: any TeX delimiter left there is raw TeX.
_PROSE = """() => { const a = document.querySelector("article").cloneNode(true);
  a.querySelectorAll("pre, code, script, style, mjx-container").forEach(e => e.remove()); return a.textContent; }"""


def test_mathjax_shipped(site):
    mj = site / "assets" / "javascripts" / "mathjax"
    assert (mj / "tex-chtml.js").is_file(), "MathJax is not in the site (docs/build_docs.py copy_mathjax)"
    assert list((mj / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff")), "MathJax's CommonHTML fonts are missing"
    assert MATH_PAGES, "no library or API page holds math: the math tests below would test nothing"


@pytest.mark.parametrize("path", MATH_SAMPLE)
def test_math_typeset(page, server, path):
    "MathJax (the site's own copy) typesets every formula of the page; no raw `$$`, `\\(`, `\\[` stays in its text."
    _open(page, server, path)
    try: page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=15_000)
    except PlaywrightTimeout:
        pytest.fail(f"{path}: MathJax did not start within 15 s (not loaded by docs/overrides/main.html?); remote requests "
                    f"{page.remote[:3]}, missing files {page.missing[:3]}, page errors {page.errors[:3]}")
    page.evaluate("() => MathJax.startup.promise")  # resolves once the page's math is typeset
    n = page.locator("article mjx-container").count()
    assert n > 0, f"{path}: no typeset formula (mjx-container)"
    errors = page.eval_on_selector_all("article mjx-merror", "es => es.map(e => e.getAttribute('data-mjx-error') || e.textContent)")
    assert errors == [], f"{path}: {len(errors)} of {n} formulas are TeX errors: {errors[:5]}"
    prose = page.evaluate(_PROSE)
    raw = [d for d in ("$$", "\\(", "\\)", "\\[", "\\]", "\\begin{") if d in prose] + TEX.findall(prose)[:3]
    assert raw == [], f"{path}: raw TeX left in the text: {raw}"
    assert page.remote == [], f"{path} requested remote resources: {page.remote}"
    assert page.missing == [], f"{path}: local files not found: {page.missing[:5]}"
    assert page.errors == [], f"{path}: page errors {page.errors[:3]}"
