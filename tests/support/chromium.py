"""Headless Chromium for page tests: find it (installing Debian's ``chromium`` with apt-get
when it is missing, never skipping), dump a page's DOM after its scripts ran, screenshot it.

Each run gets a fresh profile and Chromium's own background traffic (updates, sync, safe
browsing) is switched off, so a test page is the only thing it loads.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root in containers
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--metrics-recording-only",
    "--mute-audio",
)


def binary() -> str:
    """The Chromium executable; installs Debian's ``chromium`` package when none is found."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    for cmd in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
    ):
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise RuntimeError(
                f"could not install chromium ({' '.join(cmd)}): {result.stderr[-500:]}"
            )
    found = shutil.which("chromium")
    if not found:
        raise RuntimeError("chromium installed but not on PATH")
    return found


def _run(url: str, *args: str, budget_ms: int, timeout_s: float) -> str:
    with tempfile.TemporaryDirectory(prefix="adc-chromium-") as profile:
        cmd = [binary(), *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}"]
        result = subprocess.run(
            [*cmd, *args, url], capture_output=True, text=True, timeout=timeout_s
        )
    if result.returncode != 0:
        raise RuntimeError(f"chromium failed ({result.returncode}): {result.stderr[-1000:]}")
    return result.stdout


def dump_dom(url: str, *, budget_ms: int = 4000, timeout_s: float = 60) -> str:
    """The page's DOM after ``budget_ms`` of virtual time (its scripts and fetches ran)."""
    return _run(url, "--dump-dom", budget_ms=budget_ms, timeout_s=timeout_s)


def screenshot(
    url: str, out: Path, *, size: tuple[int, int] = (1400, 1800), budget_ms: int = 4000
) -> Path:
    """A PNG of the page at ``size`` (width, height) after ``budget_ms`` of virtual time."""
    _run(
        url,
        f"--screenshot={out}",
        f"--window-size={size[0]},{size[1]}",
        budget_ms=budget_ms,
        timeout_s=60,
    )
    if not out.exists():
        raise RuntimeError(f"chromium wrote no screenshot to {out}")
    return out


class _Texts(HTMLParser):
    """Text content of every element that has an ``id``, and whether it is ``hidden``."""

    VOID = frozenset({"br", "img", "input", "meta", "link", "hr", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.texts: dict[str, str] = {}
        self.hidden: dict[str, bool] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_data(" ")  # elements apart: table cells read "1 budget", not "1budget"
        if tag in self.VOID:
            return
        found = dict(attrs)
        node_id = found.get("id")
        if node_id:
            self.texts[node_id] = ""
            self.hidden[node_id] = "hidden" in found
        self._open.append(node_id)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for node_id in self._open:
            if node_id:
                self.texts[node_id] += data


def texts_by_id(dom: str) -> tuple[dict[str, str], dict[str, bool]]:
    """``(text of each element with an id, whether it is hidden)`` of a dumped DOM."""
    parser = _Texts()
    parser.feed(dom)
    return (
        {k: " ".join(v.split()) for k, v in parser.texts.items()},
        parser.hidden,
    )
