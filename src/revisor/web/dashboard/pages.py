"""What every dashboard page shares: the page renderer, the time format, the form body type,
who is asking and from where.

Handlers are synchronous (`sync_to_thread=True`): they do SQLite work, which must not block the
event loop that also answers webhooks. They receive the web resources as Litestar dependencies
(`resources`, `settings`, `dbs`, `audit`: see `web/resources.py`) and take their thread's
connection with `dbs.get()`. Who may open what is declared by `guards=` on each route (see
`revisor.web.auth.guards`); every route that changes something also has the CSRF guard and
writes an audit record before it reports success.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template
from markupsafe import Markup

from revisor.web.auth.guards import ADMIN, AUDIT, OPERATE, READ_CODE, principal_of, signed_in
from revisor.web.auth.sessions import Principal
from revisor.web.client_address import client_address

FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def who(request: Request[Any, Any, Any]) -> Principal:
    return signed_in(request)


def source(request: Request[Any, Any, Any]) -> str:
    return client_address(request)


def page(
    request: Request[Any, Any, Any], name: str, *, status: int = 200, **context: Any
) -> Template:
    p = principal_of(request)
    return Template(
        template_name=name,
        context={
            "principal": p,
            "csrf": p.csrf if p else "",
            "path": request.url.path,
            "can_operate": bool(p and p.has(*OPERATE)),
            "can_audit": bool(p and p.has(*AUDIT)),
            "can_read_code": bool(p and p.has(*READ_CODE)),
            "is_admin": bool(p and p.has(*ADMIN)),
            "fmt_time": fmt_time,
            "fmt_duration": fmt_duration,
            **context,
        },
        status_code=status,
    )


def fmt_time(ts: float | None) -> Markup:
    """A `<time>` in UTC; `static/revisor.js` shows it in the viewer's time zone, the UTC time
    stays in its title (shown on hover) and is the text without JavaScript."""
    if not ts:
        return Markup("—")
    t = time.gmtime(ts)
    utc = time.strftime("%Y-%m-%d %H:%M:%S", t) + " UTC"
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", t)
    return Markup(f'<time datetime="{iso}" title="{utc}">{utc}</time>')  # noqa: S704 (digits only)


def fmt_duration(seconds: float | None) -> str:
    """`45 s`, `3 min 05 s`, `2 h 07 min`: how long something took or has been running."""
    if seconds is None or seconds < 0:
        return "—"
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
