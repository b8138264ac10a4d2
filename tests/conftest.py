"""Fixtures shared by the integration tests: the project root, the venv's python, free ports, a headless Chromium."""
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Debian's Chromium (playwright cannot download its own browsers here). Without these flags it hangs on
# connections it cannot make; playwright gives every launch a fresh temporary profile (user-data-dir).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def root() -> Path:
    "The project root (the folder holding settings.ini)."
    return ROOT


@pytest.fixture(scope="session")
def python() -> str:
    "The interpreter running the tests: the project's venv under `make test`."
    return sys.executable


def free_port() -> int:
    "A TCP port on 127.0.0.1 that was free a moment ago."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    "A headless Chromium (playwright), closed at the end of the session."
    from playwright.sync_api import sync_playwright
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found; install it with `apt-get install chromium` (what `make install` does as root)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
