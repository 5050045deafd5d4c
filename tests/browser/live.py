"""What the browser tests share: the real app on a loopback port (uvicorn in a thread), a
headless chromium, signing in through the form or by a session made in the database, and the
automated accessibility check (the vendored axe-core, run in the page)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from revisor import config
from revisor.web.app import create_app
from revisor.web.auth import sessions
from revisor.web.model_health import ModelHealth
from tests.browser.cdp import Browser, chromium_available
from tests.ldap.slapd import free_port
from tests.web.webapp import FakeDirectory, session_cookie

AXE = Path(__file__).parents[2] / "src" / "revisor" / "web" / "static" / "axe.min.js"


@dataclass(frozen=True)
class Live:
    base: str
    settings: config.Settings
    directory: FakeDirectory


@contextmanager
def serve(
    settings: config.Settings,
    *,
    model_health: ModelHealth | None = None,
    port: int | None = None,
) -> Iterator[Live]:
    """The app, with the fake directory as its LDAP, until the block ends (on `port`, or a free
    one)."""
    directory = FakeDirectory()
    app = create_app(settings, authenticator=directory, model_health=model_health)
    port = port or free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield Live(f"http://127.0.0.1:{port}", settings, directory)
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium(tmp_path: Path, width: int = 1280, height: int = 900) -> Iterator[Browser]:
    if not chromium_available():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    profile.mkdir()
    b = Browser(profile)
    try:
        resize(b, width, height)
        yield b
    finally:
        b.close()


def resize(b: Browser, width: int, height: int = 900) -> None:
    b.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def sign_in_as(b: Browser, live: Live, role: str) -> None:
    """A session for `<role>-user` made in the database, its cookie given to the browser."""
    set_session(b, live.base, live.settings, role)


def set_session(b: Browser, base: str, settings: config.Settings, role: str) -> None:
    """`sign_in_as` for a caller that holds the base URL and settings rather than a `Live`."""
    sid, _ = session_cookie(settings, role)
    b.call(
        "Network.setCookie",
        {"name": sessions.COOKIE, "value": sid, "url": base, "httpOnly": True},
    )


def sign_in_form(b: Browser, live: Live, username: str, password: str) -> None:
    b.goto(f"{live.base}/login")
    fill(b, {"username": username, "password": password})
    b.evaluate("document.querySelector('form[action=\"/login\"]').submit(); true")
    b.wait_for("location.pathname !== '/login' && document.readyState === 'complete'")


def fill(b: Browser, values: dict[str, str], form: str = "") -> None:
    for name, value in values.items():
        b.evaluate(
            f"document.querySelector({json.dumps(f'{form} [name={name}]'.strip())}).value"
            f" = {json.dumps(value)}; true"
        )


def text(b: Browser) -> str:
    return str(b.evaluate("document.body.innerText"))


def open_page(b: Browser, url: str) -> None:
    b.goto(url)
    b.wait_for("document.readyState === 'complete'")


def axe_violations(b: Browser, impacts: tuple[str, ...] = ("serious", "critical")) -> list[Any]:
    """Run the vendored axe-core in the page; the violations of those impacts (id, nodes)."""
    if not b.evaluate("typeof axe === 'object'"):
        b.evaluate(AXE.read_text(encoding="utf-8") + "; true")
    found = b.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map("
        "v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))"
    )
    return [v for v in found or [] if v["impact"] in impacts]


def overflows(b: Browser) -> bool:
    """True when the page scrolls sideways (something is wider than the window)."""
    return bool(
        b.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
    )


def full_screenshot(b: Browser, path: Path) -> None:
    """The whole page, not only the window (for a person to look at)."""
    height = b.call("Page.getLayoutMetrics")["cssContentSize"]["height"]
    width = b.evaluate("window.innerWidth")  # beyond the viewport there is no scroll bar
    data = b.call(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
    )["data"]
    path.write_bytes(base64.b64decode(data))
