"""A small Python face for Chromium driven by playwright-core (``bridge.mjs``, one node process).

Debian's ``chromium`` with ``executablePath`` (never ``npx playwright install``); playwright-core
comes from example/frontend's packages (``make setup``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
NODE_PACKAGES = ROOT / "example" / "frontend"
BRIDGE = Path(__file__).with_name("bridge.mjs")


class BrowserError(AssertionError):
    """An operation failed in the browser (a timeout included)."""


class Browser:
    """One Chromium; pages are separate contexts (own cookies and sessionStorage)."""

    def __init__(self) -> None:
        if not (NODE_PACKAGES / "node_modules" / "playwright-core").exists():
            raise BrowserError(
                "playwright-core is missing: run `make setup` (scripts/setup-example.sh)"
            )
        if shutil.which("chromium") is None:
            raise BrowserError("chromium is missing: run `make setup` (scripts/setup-system.sh)")
        self.proc = subprocess.Popen(
            ["node", str(BRIDGE), str(NODE_PACKAGES)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._next = 0
        self.version = self._read(0)["version"]
        self.pages: dict[str, Page] = {}

    def call(self, op: str, *args: Any) -> Any:
        """Run one operation in the bridge and return its result."""
        self._next += 1
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"id": self._next, "op": op, "args": args}) + "\n")
        self.proc.stdin.flush()
        return self._read(self._next)

    def _read(self, want: int) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise BrowserError(f"the browser bridge exited (status {self.proc.wait(5)})")
        message = json.loads(line)
        assert message["id"] == want, message
        if not message["ok"]:
            raise BrowserError(message["error"])
        return message["result"]

    def new_page(self, name: str, width: int = 720, height: int = 640) -> Page:
        """A fresh page in its own context."""
        self.call("newPage", name, {"width": width, "height": height})
        page = self.pages[name] = Page(self, name)
        return page

    def close_pages(self) -> None:
        """Close every page (between tests)."""
        for name in list(self.pages):
            self.call("closePage", name)
        self.pages.clear()

    def close(self) -> None:
        """Close the browser and its bridge."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Page:
    """One page; methods mirror playwright's ``Page``."""

    def __init__(self, browser: Browser, name: str) -> None:
        self.browser, self.name = browser, name

    def goto(self, url: str) -> None:
        self.browser.call("goto", self.name, url)

    def fill(self, selector: str, value: str) -> None:
        self.browser.call("fill", self.name, selector, value)

    def click(self, selector: str) -> None:
        self.browser.call("click", self.name, selector)

    def check(self, selector: str) -> None:
        self.browser.call("check", self.name, selector)

    def press(self, selector: str, key: str) -> None:
        self.browser.call("press", self.name, selector, key)

    def evaluate(self, function: str, arg: Any = None) -> Any:
        """Run ``function`` (JS source, e.g. ``"(arg) => ..."``) in the page."""
        return self.browser.call("evaluate", self.name, function, arg)

    def wait_for(self, function: str, arg: Any = None, timeout: float = 20) -> Any:
        """Wait until ``function(arg)`` is truthy in the page (``page.waitForFunction``)."""
        return self.browser.call("waitFor", self.name, function, arg, int(timeout * 1000))

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        self.browser.call("screenshot", self.name, str(path), full_page)
        return path

    def set_content(self, html: str) -> None:
        self.browser.call("setContent", self.name, html)

    def frames(self) -> list[dict[str, Any]]:
        """Every websocket frame this page received so far, decoded."""
        return [json.loads(f) for f in self.browser.call("frames", self.name)]

    def console(self) -> list[str]:
        """The page's console messages and uncaught errors."""
        return list(self.browser.call("console", self.name))
