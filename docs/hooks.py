"""MkDocs hooks of the docs site (listed under `hooks:` in mkdocs.yml): keep every page loadable offline.

nbconvert's template (used by mkdocs-jupyter) puts a MathJax `<script>` on every notebook page: empty (`src=""`, with
mkdocs-jupyter's default `custom_mathjax_url`) or from cdnjs (nbconvert's default). The tag is dropped: the site ships
its own MathJax 3 (build_docs.py copies it into `assets/javascripts/mathjax/`; docs/overrides/main.html loads it on
pages with math). Any other remote script or stylesheet fails the build,
naming the page and the URL, instead of shipping a site that hangs or breaks without network.
"""
import re

from mkdocs.exceptions import PluginError

_MATHJAX = re.compile(r'<!-- Load mathjax -->\s*<script\s+src="(?:https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^"]*)?"\s*>\s*</script>')
_LOADER_HOSTS = ("unpkg.com", "cdn.jsdelivr.net")  # nbconvert's ipywidgets loader (build_docs.py drops widgets)
_REMOTE = re.compile(r'<(?:script|link)\b[^>]*?\s(?:src|href)="((?:https?:)?//[^"]+)"[^>]*>', re.IGNORECASE)


def _is_resource(tag: str) -> bool:
    "A tag whose target the page needs: a script, a stylesheet or a preload (not rel=canonical, alternate, ...)."
    if not tag.lower().startswith("<link"): return True
    rel = re.search(r'\srel="([^"]*)"', tag, re.IGNORECASE)
    return bool(rel) and any(r in rel.group(1).lower() for r in ("stylesheet", "preload", "preconnect", "modulepreload", "icon"))


def on_post_page(output: str, page, config) -> str:
    output = _MATHJAX.sub("", output)
    remote = [m.group(1) for m in _REMOTE.finditer(output) if _is_resource(m.group(0))]
    remote += [host for host in _LOADER_HOSTS if host in output]  # scripts that add <script src=...> at run time
    if remote:
        raise PluginError(f"{page.file.src_uri}: loads remote resources {remote[:3]}; the docs must work offline "
                          "(ship the file in the site or drop the tag in docs/hooks.py)")
    return output
