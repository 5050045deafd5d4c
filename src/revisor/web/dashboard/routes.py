"""Dashboard pages: server-rendered Jinja, htmx for the small in-place updates. One module per
page (what they share is in `pages.py`); this gathers their routes for `create_app()`."""

from __future__ import annotations

from revisor.web.dashboard import (
    audit,
    feedback,
    jobs,
    models,
    onboard,
    overview,
    repo_checks,
    repos,
    servers,
    settings,
    tokens,
    transcripts,
)

routes = [
    *overview.routes,
    *jobs.routes,
    *repos.routes,
    *repo_checks.routes,
    *models.routes,
    *audit.routes,
    *settings.routes,
    *servers.routes,
    *feedback.routes,
    *onboard.routes,
    *tokens.routes,
    *transcripts.routes,
]
