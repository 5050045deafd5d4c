"""The real app on a loopback port for the onboarding, repository and transcript browser tests
(and `revisor repo enable`'s test deliveries), and signing a browser in as a role (a session
started straight in the database, its cookie handed to chromium). The pages' own browser tests
use `live.py`; the two grew in parallel and should become one."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from revisor import config
from revisor.web.app import create_app
from revisor.web.auth import sessions
from tests.browser.cdp import Browser
from tests.ldap.slapd import free_port
from tests.web.webapp import FakeDirectory, session_cookie


@contextmanager
def serve(settings: config.Settings, port: int | None = None) -> Iterator[str]:
    """The app (LDAP answered by the tests' fake directory) until the block ends; yields its
    base URL."""
    port = port or free_port()
    app = create_app(settings, authenticator=FakeDirectory())
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not srv.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def sign_in(browser: Browser, base: str, settings: config.Settings, role: str) -> None:
    """`browser` is signed in as `ldap:<role>-user` from now on."""
    sid, _ = session_cookie(settings, role)
    browser.call(
        "Network.setCookie",
        {"name": sessions.COOKIE, "value": sid, "url": base, "httpOnly": True},
    )


def open_browser(tmp: Path) -> Browser:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    return Browser(profile)


def text(browser: Browser) -> str:
    return str(browser.evaluate("document.body.innerText"))


def submit(browser: Browser, form: str, fields: dict[str, str]) -> None:
    """Fill `fields` into the form matched by the CSS selector `form`, submit it as a person
    would (its submit button) and wait for the page that answers."""
    import json

    browser.evaluate(
        f"(() => {{ const f = document.querySelector({json.dumps(form)});"
        f" for (const [k, v] of Object.entries({json.dumps(fields)})) f.elements[k].value = v;"
        " window.__before_submit = true; f.requestSubmit(); return true; })()"
    )
    browser.wait_for("window.__before_submit === undefined && document.readyState === 'complete'")
