"""A strict fake GitLab (API v4), written from the public API documentation.

Usage::

    gl = FakeGitLab(token="glpat-test")
    url = gl.start()                       # http://127.0.0.1:<port>
    gl.add_merge_request("group/app", 7, files=[modified("app.py")])
    ...                                    # point the adapter at `url`
    gl.discussions("group/app", 7)         # what was posted
    gl.inject(500, times=2)                # the next two requests fail
    gl.stop()

Strict where the real server is strict, because that is where adapters break in production:
- every request needs the token (`PRIVATE-TOKEN` or `Authorization: Bearer`), else 401;
  a token limited to `read_api` gets 403 `insufficient_scope` on writes;
- a discussion position must name the latest version's SHAs, an existing old/new path pair
  and an (old_line, new_line) combination that is really in that file's diff (added line:
  new_line only; removed: old_line only; context: both), else the real 400 about `line_code`;
- lists paginate (`per_page` default 20, max 100), so a client that ignores pagination
  loses data;
- commit statuses follow GitLab's state machine (posting `running` twice is a 400);
- quick actions run: a note or discussion created (or edited) through the API has its
  `/command` lines executed the way `Gitlab::QuickActions::Extractor` finds them (after
  deleting `\r`: a line starting at column 0 with `/` and a command name, case-insensitive,
  outside its own notion of code, which is cruder than CommonMark: three-backtick blocks closed
  by the first exact ```` ``` ```` line, backtick pairs, `<tag>`...`</tag>` and `>>>` blocks).
  Each one is recorded in `quick_actions_run` and removed from the stored body, as GitLab does.
"""

from __future__ import annotations

import hmac
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .gitlab_threads import GitLabThreads
from .model import FakeFile, diff_lines
from .quick_actions import extract_quick_actions
from .server import FakeServer, Request, Response, json_response, paginate, text_response

LINE_CODE_ERROR = (
    '400 Bad request - Note {:line_code=>["can\'t be blank", "must be a valid line code"]}'
)
STATES = ("pending", "running", "success", "failed", "canceled", "skipped")
# From a pending/running status of the same name, these targets are allowed; completed
# statuses are never updated (a new one is created instead).
_TRANSITIONS = {
    "pending": {"running", "success", "failed", "canceled", "skipped"},
    "running": {"success", "failed", "canceled"},
}
_EVENT = {"pending": "enqueue", "running": "run", "success": "success", "failed": "drop",
          "canceled": "cancel", "skipped": "skip"}  # fmt: skip


@dataclass
class FakeMR:
    project: str
    iid: int
    files: list[FakeFile]
    title: str = "Add feature"
    description: str = ""
    author: str = "alice"
    draft: bool = False
    labels: list[str] = field(default_factory=list)
    source_branch: str = "feature"
    target_branch: str = "main"
    # (base, start, head) SHAs, newest first, like GET .../versions.
    versions: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    discussions: list[dict[str, Any]] = field(default_factory=list)
    state: str = "opened"
    approved_by: set[str] = field(default_factory=set)


def _sha(n: int) -> str:
    return f"{n:040x}"


class FakeGitLab(GitLabThreads, FakeServer):
    API = "/api/v4"

    def __init__(
        self,
        token: str = "glpat-test-token",  # noqa: S107 (a test token)
        bot_username: str = "revisor-bot",
    ) -> None:
        super().__init__()
        self.token: str | None = token
        self.scopes: set[str] = {"api"}
        self.users = {bot_username: 99, "alice": 2, "bob": 3}
        self.bot_username = bot_username
        self.projects: dict[str, int] = {}
        self.mrs: dict[tuple[str, int], FakeMR] = {}
        self.files: dict[tuple[str, str, str], str] = {}  # (project, ref, path) -> content
        self.statuses: list[dict[str, Any]] = []
        self.rejected_positions: list[tuple[Any, str]] = []  # (position, why) of every 400
        # (project, iid, command, argument) of every quick action a posted text ran
        self.quick_actions_run: list[tuple[str, int, str, str]] = []
        self._ids = itertools.count(1000)
        self._shas = itertools.count(0xA000)
        self._state_lock = threading.RLock()
        p = r"/api/v4/projects/(?P<project>[^/]+)"
        mr = p + r"/merge_requests/(?P<iid>\d+)"
        self.route("GET", r"/api/v4/user", self._get_user)
        self.route("GET", mr, self._get_mr)
        self.route("GET", mr + "/versions", self._get_versions)
        self.route("GET", mr + "/diffs", self._get_diffs)
        self.route("GET", mr + "/notes", self._get_notes)
        self.route("POST", mr + "/notes", self._post_note)
        self.route("PUT", mr + r"/notes/(?P<note_id>\d+)", self._put_note)
        self.route("GET", mr + "/discussions", self._get_discussions)
        self.route("POST", mr + "/discussions", self._post_discussion)
        self.route("GET", p + r"/repository/files/(?P<path>[^/]+)/raw", self._get_raw)
        self.route("POST", p + r"/statuses/(?P<sha>[0-9a-fA-F]+)", self._post_status)
        self._thread_routes(p, mr)  # gitlab_threads.py: replies, resolving, awards, compare

    # --- seeding ----------------------------------------------------------------------------

    def add_merge_request(
        self, project: str, iid: int, files: list[FakeFile], **attrs: Any
    ) -> FakeMR:
        """Create (or replace) a merge request with one diff version and these changed files."""
        with self._state_lock:
            self.projects.setdefault(project, len(self.projects) + 1)
            mr = FakeMR(project, iid, list(files), **attrs)
            if not mr.versions:
                mr.versions = [
                    (_sha(next(self._shas)), _sha(next(self._shas)), _sha(next(self._shas)))
                ]
            self.mrs[(project, iid)] = mr
            return mr

    def push(
        self, project: str, iid: int, files: list[FakeFile] | None = None
    ) -> tuple[str, str, str]:
        """A new push: a new diff version becomes the latest (SHAs of older ones go stale)."""
        with self._state_lock:
            mr = self.mrs[(project, iid)]
            base = mr.versions[0][0]
            version = (base, base, _sha(next(self._shas)))
            mr.versions.insert(0, version)
            if files is not None:
                mr.files = list(files)
            return version

    def add_file(self, project: str, ref: str, path: str, content: str) -> None:
        with self._state_lock:
            self.projects.setdefault(project, len(self.projects) + 1)
            self.files[(project, ref, path)] = content

    def add_note(self, project: str, iid: int, body: str, author: str = "alice") -> dict[str, Any]:
        """A note someone else (or the bot, in an earlier run) wrote."""
        with self._state_lock:
            note = self._note(body, author, None)
            self.mrs[(project, iid)].notes.append(note)
            return note

    def revoke_token(self) -> None:
        self.token = None

    # --- assertions -------------------------------------------------------------------------

    def discussions(self, project: str, iid: int) -> list[dict[str, Any]]:
        with self._state_lock:
            return list(self.mrs[(project, iid)].discussions)

    def notes(self, project: str, iid: int) -> list[dict[str, Any]]:
        """Plain notes only (not the notes inside positioned discussions)."""
        with self._state_lock:
            return [n for n in self.mrs[(project, iid)].notes if n["type"] is None]

    def commit_statuses(self, sha: str | None = None) -> list[dict[str, Any]]:
        with self._state_lock:
            return [s for s in self.statuses if sha is None or s["sha"] == sha]

    # --- server behaviour -------------------------------------------------------------------

    def authenticate(self, request: Request) -> Response | None:
        given = request.headers.get("private-token", "")
        auth = request.headers.get("authorization", "")
        if not given and auth.startswith("Bearer "):
            given = auth[len("Bearer ") :]
        if self.token is None or not hmac.compare_digest(given.encode(), self.token.encode()):
            return json_response({"message": "401 Unauthorized"}, 401)
        if request.method != "GET" and "api" not in self.scopes:
            return json_response(
                {
                    "error": "insufficient_scope",
                    "error_description": "The request requires higher privileges than "
                    "provided by the access token.",
                    "scope": "api",
                },
                403,
            )
        return None

    def _project(self, request: Request) -> str | None:
        raw = unquote(request.params["project"])
        if raw.isdigit():
            return next((p for p, i in self.projects.items() if i == int(raw)), None)
        return raw if raw in self.projects else None

    def _mr(self, request: Request) -> FakeMR | None:
        project = self._project(request)
        if project is None:
            return None
        return self.mrs.get((project, int(request.params["iid"])))

    def _user(self, username: str) -> dict[str, Any]:
        return {"id": self.users.get(username, 1), "username": username, "name": username.title()}

    def _note(self, body: str, author: str, position: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "id": next(self._ids),
            "type": "DiffNote" if position else None,
            "body": body,
            "author": self._user(author),
            "system": False,
            "resolvable": position is not None,
            "position": position,
        }

    def _get_user(self, request: Request) -> Response:
        return json_response(self._user(self.bot_username))

    def _get_mr(self, request: Request) -> Response:
        mr = self._mr(request)
        if mr is None:
            return json_response({"message": "404 Not found"}, 404)
        base, start, head = mr.versions[0]
        return json_response(
            {
                "id": 5000 + mr.iid,
                "iid": mr.iid,
                "project_id": self.projects[mr.project],
                "title": mr.title,
                "description": mr.description,
                "state": mr.state,
                "draft": mr.draft,
                "work_in_progress": mr.draft,
                "author": self._user(mr.author),
                "labels": mr.labels,
                "source_branch": mr.source_branch,
                "target_branch": mr.target_branch,
                "sha": head,
                "diff_refs": {"base_sha": base, "start_sha": start, "head_sha": head},
                "web_url": f"{self.url}/{mr.project}/-/merge_requests/{mr.iid}",
            }
        )

    def _get_versions(self, request: Request) -> Response:
        mr = self._mr(request)
        if mr is None:
            return json_response({"message": "404 Not found"}, 404)
        return json_response(
            [
                {
                    "id": 100 + i,
                    "base_commit_sha": base,
                    "start_commit_sha": start,
                    "head_commit_sha": head,
                    "merge_request_id": 5000 + mr.iid,
                    "state": "collected",
                    "real_size": str(len(mr.files)),
                }
                for i, (base, start, head) in enumerate(mr.versions)
            ]
        )

    def _get_diffs(self, request: Request) -> Response:
        mr = self._mr(request)
        if mr is None:
            return json_response({"message": "404 Not found"}, 404)
        entries = [
            {
                "old_path": f.old,
                "new_path": f.new_path,
                "a_mode": "0" if f.new_file else "100644",
                "b_mode": "0" if f.deleted_file else "100644",
                # GitLab sends an empty diff for binary files and for diffs it will not send.
                "diff": "" if f.binary or f.too_large else f.diff,
                "new_file": f.new_file,
                "renamed_file": f.renamed_file,
                "deleted_file": f.deleted_file,
                "generated_file": False,
                "too_large": f.too_large,
                "collapsed": f.too_large,
            }
            for f in mr.files
        ]
        page, headers = paginate(
            entries, request, default=20, maximum=100, size_param="per_page", base_url=self.url
        )
        return json_response(page, headers=headers)

    def _get_notes(self, request: Request) -> Response:
        mr = self._mr(request)
        if mr is None:
            return json_response({"message": "404 Not found"}, 404)
        with self._state_lock:
            notes = list(mr.notes)
        if request.query.get("sort", "desc") == "desc":
            notes.reverse()
        page, headers = paginate(
            notes, request, default=20, maximum=100, size_param="per_page", base_url=self.url
        )
        return json_response(page, headers=headers)

    def _get_discussions(self, request: Request) -> Response:
        mr = self._mr(request)
        if mr is None:
            return json_response({"message": "404 Not found"}, 404)
        with self._state_lock:
            items = self._all_discussions(mr)
        page, headers = paginate(
            items, request, default=20, maximum=100, size_param="per_page", base_url=self.url
        )
        return json_response(page, headers=headers)

    def _post_note(self, request: Request) -> Response:
        mr = self._mr(request)
        if mr is None:
            return json_response({"message": "404 Not found"}, 404)
        data = request.json() or {}
        if not str(data.get("body") or "").strip():
            return json_response({"message": "400 Bad request - body is missing"}, 400)
        with self._state_lock:
            body = self._run_quick_actions(mr, str(data["body"]))
            note = self._note(body, self.bot_username, None)
            mr.notes.append(note)
        return json_response(note, 201)

    def _put_note(self, request: Request) -> Response:
        mr = self._mr(request)
        if mr is None:
            return json_response({"message": "404 Not found"}, 404)
        data = request.json() or {}
        with self._state_lock:
            note = next((n for n in mr.notes if n["id"] == int(request.params["note_id"])), None)
            if note is None:
                return json_response({"message": "404 Note Not Found"}, 404)
            if note["author"]["username"] != self.bot_username:
                return json_response({"message": "403 Forbidden"}, 403)
            if not str(data.get("body") or "").strip():
                return json_response({"message": "400 Bad request - body is missing"}, 400)
            note["body"] = self._run_quick_actions(mr, str(data["body"]))
        return json_response(note)

    def _run_quick_actions(self, mr: FakeMR, body: str) -> str:
        """Run (record) the body's quick actions; the body GitLab stores without them."""
        kept, commands = extract_quick_actions(body)
        for command, argument in commands:
            self.quick_actions_run.append((mr.project, mr.iid, command, argument))
            if command == "approve":
                mr.approved_by.add(self.bot_username)
            elif command == "merge":
                mr.state = "merged"
            elif command == "close":
                mr.state = "closed"
        return kept

    def _position_error(self, mr: FakeMR, position: Any) -> str | None:
        """None if GitLab would accept the position, else why not (for debugging tests)."""
        if not isinstance(position, dict) or position.get("position_type") != "text":
            return "position_type must be text"
        base, start, head = mr.versions[0]
        if (position.get("base_sha"), position.get("start_sha"), position.get("head_sha")) != (
            base,
            start,
            head,
        ):
            return "SHAs are not the latest version's"
        file = next(
            (
                f
                for f in mr.files
                if f.new_path == position.get("new_path") and f.old == position.get("old_path")
            ),
            None,
        )
        if file is None or file.binary or file.too_large:
            return "no such file in the diff"

        def as_line(value: Any) -> int | None:
            return None if value in (None, "") else int(value)

        try:
            key = (as_line(position.get("old_line")), as_line(position.get("new_line")))
        except (TypeError, ValueError):
            return "line numbers must be integers"
        if key not in diff_lines(file.diff):
            return f"(old_line, new_line) = {key} is not a line of the diff"
        return None

    def _post_discussion(self, request: Request) -> Response:
        mr = self._mr(request)
        if mr is None:
            return json_response({"message": "404 Not found"}, 404)
        data = request.json() or {}
        if not str(data.get("body") or "").strip():
            return json_response({"message": "400 Bad request - body is missing"}, 400)
        position = data.get("position")
        with self._state_lock:
            if position is not None:
                why = self._position_error(mr, position)
                if why is not None:
                    self.rejected_positions.append((position, why))
                    return json_response({"message": LINE_CODE_ERROR}, 400)
            note = self._note(
                self._run_quick_actions(mr, str(data["body"])), self.bot_username, position
            )
            discussion = {
                "id": f"{next(self._ids):040x}",
                "individual_note": False,
                "notes": [note],
            }
            mr.discussions.append(discussion)
            mr.notes.append(note)
        return json_response(discussion, 201)

    def _get_raw(self, request: Request) -> Response:
        project = self._project(request)
        if project is None:
            return json_response({"message": "404 Project Not Found"}, 404)
        ref = request.query.get("ref")
        if not ref:
            return json_response({"message": "400 Bad request - ref is missing"}, 400)
        content = self.files.get((project, ref, unquote(request.params["path"])))
        if content is None:
            return json_response({"message": "404 File Not Found"}, 404)
        return text_response(content)

    def _post_status(self, request: Request) -> Response:
        project = self._project(request)
        if project is None:
            return json_response({"message": "404 Project Not Found"}, 404)
        sha = request.params["sha"].lower()
        known = {v[2] for m in self.mrs.values() if m.project == project for v in m.versions}
        if sha not in known:
            return json_response({"message": "404 Commit Not Found"}, 404)
        data = request.json() or {}
        state = data.get("state")
        if state not in STATES:
            return json_response({"error": "state does not have a valid value"}, 400)
        name = data.get("name") or data.get("context") or "default"
        with self._state_lock:
            previous = next(
                (s for s in reversed(self.statuses) if s["sha"] == sha and s["name"] == name),
                None,
            )
            if (
                previous is not None
                and previous["state"] in _TRANSITIONS
                and state not in _TRANSITIONS[previous["state"]]
            ):
                return json_response(
                    {
                        "message": f"Cannot transition status via :{_EVENT[state]} from "
                        f":{previous['state']} (Reasons: Status cannot transition via "
                        f'"{_EVENT[state]}")'
                    },
                    400,
                )
            status = {
                "id": next(self._ids),
                "sha": sha,
                "name": name,
                "state": state,
                "target_url": data.get("target_url"),
                "description": data.get("description"),
            }
            self.statuses.append(status)
        return json_response(status, 201)
