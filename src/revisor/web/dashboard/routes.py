"""Dashboard pages: server-rendered Jinja, htmx for the small in-place updates. One module per
page (what they share is in `pages.py`); this gathers their routes for `create_app()`."""

from __future__ import annotations

from revisor.web.dashboard import (
    audit,
    jobs,
    models,
    overview,
    repos,
    servers,
    settings,
    tokens,
)

routes = [
    *overview.routes,
    *jobs.routes,
    *repos.routes,
    *models.routes,
    *audit.routes,
    *settings.routes,
    *servers.routes,
    *tokens.routes,
]
