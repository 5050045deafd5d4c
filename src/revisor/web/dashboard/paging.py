"""Pages and sort order of the long tables (jobs, audit): read from the query string, turned
back into links. The sort column is one of a fixed list, so only known names reach the SQL."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

PER_PAGE = 50


@dataclass(frozen=True)
class Paging:
    path: str
    page: int
    per_page: int
    sort: str
    desc: bool
    total: int = 0
    keep: dict[str, str] = field(default_factory=dict)  # the filters, kept in every link

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def first_row(self) -> int:
        return min(self.total, self.offset + 1)

    @property
    def last_row(self) -> int:
        return min(self.total, self.offset + self.per_page)

    def url(self, **changes: object) -> str:
        params = {
            **self.keep,
            "sort": self.sort,
            "dir": "desc" if self.desc else "asc",
            "page": str(self.page),
        }
        params.update({k: str(v) for k, v in changes.items()})
        return f"{self.path}?{urlencode({k: v for k, v in params.items() if v != ''})}"

    def query(self) -> str:
        return self.url().partition("?")[2]

    def page_url(self, page: int) -> str:
        return self.url(page=page)

    def sort_url(self, column: str) -> str:
        """Sorting by the current column flips the direction; a new column starts descending."""
        desc = not self.desc if column == self.sort else True
        return self.url(sort=column, dir="desc" if desc else "asc", page=1)

    def aria_sort(self, column: str) -> str:
        if column != self.sort:
            return "none"
        return "descending" if self.desc else "ascending"


def paging_from(
    path: str,
    params: Mapping[str, str],
    sorts: tuple[str, ...],
    *,
    keep: dict[str, str],
    per_page: int = PER_PAGE,
) -> Paging:
    """`sorts[0]` is the default column (descending); an unknown column or page is ignored."""
    sort = params.get("sort", "")
    if sort not in sorts:
        sort = sorts[0]
    try:
        page = max(1, int(params.get("page", "1")))
    except ValueError:
        page = 1
    return Paging(path, page, per_page, sort, params.get("dir", "desc") != "asc", keep=keep)


def with_total(p: Paging, total: int) -> Paging:
    """The same paging once the count is known (the page clamped to the last one)."""
    pages = max(1, math.ceil(total / p.per_page))
    return Paging(p.path, min(p.page, pages), p.per_page, p.sort, p.desc, total, p.keep)
