"""The onboarding, repository and transcript browser tests (and `revisor repo enable`'s test
deliveries) drive the app by its base URL: thin forms of `live.py`'s server and sign-in, plus
opening a browser and submitting a form as a person would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from revisor import config
from tests.browser import live
from tests.browser.cdp import Browser
from tests.browser.live import text

__all__ = ["open_browser", "serve", "sign_in", "submit", "text"]


@contextmanager
def serve(settings: config.Settings, port: int | None = None) -> Iterator[str]:
    """`live.serve`, yielding only the base URL."""
    with live.serve(settings, port=port) as running:
        yield running.base


def sign_in(browser: Browser, base: str, settings: config.Settings, role: str) -> None:
    """`browser` is signed in as `ldap:<role>-user` from now on."""
    live.set_session(browser, base, settings, role)


def open_browser(tmp: Path) -> Browser:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    return Browser(profile)


def submit(browser: Browser, form: str, fields: dict[str, str]) -> None:
    """Fill `fields` into the form matched by the CSS selector `form`, submit it as a person
    would (its submit button) and wait for the page that answers."""
    browser.evaluate(
        f"(() => {{ const f = document.querySelector({json.dumps(form)});"
        f" for (const [k, v] of Object.entries({json.dumps(fields)})) f.elements[k].value = v;"
        " window.__before_submit = true; f.requestSubmit(); return true; })()"
    )
    browser.wait_for("window.__before_submit === undefined && document.readyState === 'complete'")
