"""Open a report file in headless chromium (as the UI test finds it): a PNG screenshot and the DOM
as the browser built it. Tests skip only where chromium is missing locally; CI installs it."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed here (CI installs it)")
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--window-size=1400,2000"]  # fmt: skip


def open_page(page: Path, png: Path, profile: Path) -> str:
    """Screenshot ``page`` into ``png`` (checked to be a PNG of the window's size); return the DOM."""
    url = page.resolve().as_uri()
    subprocess.run([CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}", url], check=True, capture_output=True, timeout=120)
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (1400, 2000), png
    dom = subprocess.run([CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url], check=True, capture_output=True, timeout=120, text=True)
    return dom.stdout
