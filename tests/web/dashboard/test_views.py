"""The pure parts behind the pages: model health verdicts, paging links, time markup."""

from __future__ import annotations

import pytest

from revisor.web.dashboard import health_view
from revisor.web.dashboard.pages import fmt_duration, fmt_time
from revisor.web.dashboard.paging import paging_from, with_total
from revisor.web.dashboard.settings import settings_sections


@pytest.mark.parametrize(
    ("probe_ok", "calls", "errors", "verdict"),
    [
        (False, 100, 0, "down"),
        (True, 18, 16, "failing"),
        (True, 10, 2, "degraded"),
        (True, 10, 0, "up"),
        (True, 2, 2, "up"),  # two calls say nothing yet
        (None, 0, 0, "unknown"),
        (None, 20, 15, "failing"),  # not probed here, but its calls fail
    ],
)
def test_health_verdicts(probe_ok: bool | None, calls: int, errors: int, verdict: str) -> None:
    assert health_view.verdict(probe_ok, calls, errors) == verdict


def test_a_probe_only_speaks_for_the_endpoint_it_probed() -> None:
    probe = {"ok": True, "endpoint": "gpu-box", "detail": "HTTP 200"}
    counts = {"gpu-box": (18, 16)}
    assert health_view.health_of("gpu-box", probe, counts).verdict == "failing"
    local = health_view.health_of("local", probe, counts)
    assert (local.verdict, local.probe_ok, local.probe_detail) == ("unknown", None, "")


def test_paging_keeps_filters_flips_sort_and_clamps_the_page() -> None:
    p = paging_from(
        "/jobs", {"sort": "drop table", "page": "9"}, ("id", "state"), keep={"state": "failed"}
    )
    assert (p.sort, p.desc) == ("id", True)  # an unknown column is ignored
    p = with_total(p, 120)
    assert (p.page, p.pages, p.first_row, p.last_row) == (3, 3, 101, 120)
    assert p.page_url(2) == "/jobs?state=failed&sort=id&dir=desc&page=2"
    assert "sort=state&dir=desc&page=1" in p.sort_url("state")
    assert "dir=asc" in p.sort_url("id")
    assert p.aria_sort("id") == "descending"
    assert p.aria_sort("state") == "none"


def test_times_are_utc_markup_and_durations_read_well() -> None:
    html = str(fmt_time(0.0)) + str(fmt_time(1_700_000_000))
    assert html.startswith("—")
    assert '<time datetime="2023-11-14T22:13:20Z" title="2023-11-14 22:13:20 UTC">' in html
    assert [fmt_duration(s) for s in (None, 5, 125, 7500)] == [
        "—",
        "5 s",
        "2 min 05 s",
        "2 h 05 min",
    ]


def test_settings_read_as_sections_not_json() -> None:
    sections = dict(
        settings_sections({"data_dir": "/d", "ldap": {"servers": ["a", "b"], "x": None}})
    )
    assert sections["general"] == [("data_dir", "/d")]
    assert sections["ldap"] == [("servers", "a, b"), ("x", "—")]
