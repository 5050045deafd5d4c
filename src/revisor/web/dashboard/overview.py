"""The overview page: queue and job counts, Git server traffic, the model, three charts."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, get
from litestar.response import Template

from revisor.web.auth.guards import READ, require
from revisor.web.dashboard import charts, health_view, queries, trouble
from revisor.web.dashboard.pages import page
from revisor.web.resources import Resources


@get("/", guards=[require(READ)], sync_to_thread=True, include_in_schema=False)
def overview(request: Request[Any, Any, Any], resources: Resources) -> Template:
    db = resources.dbs.get()
    t = time.time()
    labels, pct = queries.review_time_percentiles(db, t)
    model_health = resources.model_health
    n_retrying, retrying_jobs = trouble.retrying(db)
    n_rejected, rejected = trouble.rejected_webhooks(resources.audit.db, t)
    return page(
        request,
        "overview.html",
        stats=queries.overview(db, t),
        model=health_view.default_health(db, model_health() if model_health else None, t),
        n_retrying=n_retrying,
        retrying_jobs=retrying_jobs,
        failed_attempts=trouble.failed_attempts(db, t),
        n_rejected=n_rejected,
        rejected=rejected,
        mr_link=trouble.mr_links(db),
        forges=queries.forge_health(db, t),
        reviews_chart=charts.bar_chart("Reviews per day (14 days)", queries.reviews_per_day(db, t)),
        time_chart=charts.line_chart("Review time percentiles (seconds)", labels, pct, unit="s"),
        tokens_chart=charts.hbar_chart(
            "Tokens per repository (30 days)", queries.tokens_per_repo(db, t - 30 * queries.DAY)
        ),
    )


routes = [overview]
