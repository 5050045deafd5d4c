"""The conversation side of the strict fake GitLab: threads, replies, resolving, award emoji,
members, merge request commits and compare. Written from GitLab's public API documentation
(Discussions API, Notes API, Award emoji API, Project members API, Merge requests API
`.../commits`, Repository API `compare`) and `lib/api/discussions.rb`'s checks.

Strict where GitLab is:
- every plain note is also a discussion (`individual_note: true`), which GitLab lists among a
  merge request's discussions; replying to one turns it into a thread;
- a reply needs a `body` (400 `body is missing`) and an existing discussion (404
  `404 Discussion Not Found`);
- `PUT .../discussions/:id` needs `resolved` (400 `resolved is missing`); a discussion that is
  not resolvable (a plain note) answers 403, as `discussion.can_resolve?` is false for it;
- award emoji: a known note (404 `404 Note Not Found`) and a `name` (400 `name is missing`);
  an unknown emoji name or the same user awarding the same emoji twice fails the award's
  validation, which the API answers as 404 `404 Award Emoji {...} Not Found`;
- `GET /projects/:id/members/all/:user_id` answers 404 `404 Member Not Found` for a user
  without a membership;
- `GET /projects/:id/repository/compare` needs `from` and `to` (400) and both refs to exist
  (404 `404 Ref Not Found`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .server import Request, Response, json_response, paginate

if TYPE_CHECKING:
    from .fake_gitlab import FakeGitLab, FakeMR

EMOJI = frozenset({"thumbsup", "thumbsdown", "tada", "heart", "eyes", "rocket", "confused"})
DEVELOPER, REPORTER, GUEST = 30, 20, 10


class GitLabThreads:
    """Mixed into `FakeGitLab`; `_thread_routes()` registers the routes."""

    def _thread_routes(self: FakeGitLab, p: str, mr: str) -> None:
        # username -> access level in every project (a user missing here is no member)
        self.access_levels: dict[str, int] = {"alice": DEVELOPER, "bob": DEVELOPER}
        self.access_levels[self.bot_username] = DEVELOPER
        self.individual: dict[int, str] = {}  # plain note id -> its discussion id
        self.awards: dict[int, list[dict[str, Any]]] = {}  # note id -> awards
        # (project, iid) -> commits oldest first: (sha, paths that commit touched)
        self.mr_commits: dict[tuple[str, int], list[tuple[str, tuple[str, ...]]]] = {}
        did = mr + r"/discussions/(?P<did>[0-9a-f]+)"
        self.route("POST", did + "/notes", self._post_reply)
        self.route("PUT", did, self._put_discussion)
        self.route("GET", mr + r"/notes/(?P<note_id>\d+)/award_emoji", self._get_awards)
        self.route("POST", mr + r"/notes/(?P<note_id>\d+)/award_emoji", self._post_award)
        self.route("GET", p + r"/members/all/(?P<user_id>\d+)", self._get_member)
        self.route("GET", mr + "/commits", self._get_commits)
        self.route("GET", p + "/repository/compare", self._get_compare)

    # --- seeding ----------------------------------------------------------------------------

    def reply_as(
        self: FakeGitLab, project: str, iid: int, discussion_id: str, body: str, author: str
    ) -> dict[str, Any]:
        """Someone replies in a thread (as the web UI would): the note joins the discussion."""
        with self._state_lock:
            mr = self.mrs[(project, iid)]
            discussion = self._discussion(mr, discussion_id)
            assert discussion is not None, f"no discussion {discussion_id}"
            note = self._threaded_note(mr, discussion, body, author)
            return note

    def award(self: FakeGitLab, note_id: int, name: str, user: str) -> dict[str, Any]:
        with self._state_lock:
            award = {
                "id": next(self._ids),
                "name": name,
                "user": self._user(user),
                "awardable_id": note_id,
                "awardable_type": "Note",
            }
            self.awards.setdefault(note_id, []).append(award)
            return award

    def push_commit(
        self: FakeGitLab,
        project: str,
        iid: int,
        files: list[Any] | None = None,
        touched: tuple[str, ...] = (),
        *,
        force: bool = False,
    ) -> tuple[str, str, str]:
        """A push of one commit touching `touched` (a new diff version, `files` the MR's diff
        after it). `force`: the branch was rewritten, earlier commits are gone."""
        with self._state_lock:
            commits = self._commits(project, iid)
            version = self.push(project, iid, files)
            if force:
                commits.clear()
                touched = tuple(f.new_path for f in self.mrs[(project, iid)].files)
            commits.append((version[2], touched))
            return version

    # --- the discussions a merge request has --------------------------------------------------

    def _commits(self: FakeGitLab, project: str, iid: int) -> list[tuple[str, tuple[str, ...]]]:
        mr = self.mrs[(project, iid)]
        found = self.mr_commits.get((project, iid))
        if found is None:
            first = mr.versions[-1][2]
            found = self.mr_commits[(project, iid)] = [(first, tuple(f.new_path for f in mr.files))]
        return found

    def _all_discussions(self: FakeGitLab, mr: FakeMR) -> list[dict[str, Any]]:
        """Threads and plain notes (each its own individual discussion), oldest first."""
        items = [(d["notes"][0]["id"], d) for d in mr.discussions]
        for note in mr.notes:
            if note["type"] is None and note["id"] not in {i for i, _ in items}:
                did = self.individual.setdefault(note["id"], f"{next(self._ids):040x}")
                if any(d["id"] == did for _, d in items):
                    continue
                items.append((note["id"], {"id": did, "individual_note": True, "notes": [note]}))
        return [d for _, d in sorted(items, key=lambda pair: pair[0])]

    def _discussion(self: FakeGitLab, mr: FakeMR, did: str) -> dict[str, Any] | None:
        return next((d for d in self._all_discussions(mr) if d["id"] == did), None)

    def _threaded_note(
        self: FakeGitLab, mr: FakeMR, discussion: dict[str, Any], body: str, author: str
    ) -> dict[str, Any]:
        if discussion["individual_note"]:  # a reply makes the plain note a thread
            first = discussion["notes"][0]
            first["type"] = "DiscussionNote"
            first["resolvable"] = True
            first["resolved"] = False
            discussion["individual_note"] = False
            mr.discussions.append(discussion)
        first = discussion["notes"][0]
        note = self._note(body, author, first.get("position"))
        note["type"] = first["type"]
        note["resolvable"] = bool(first.get("resolvable"))
        note["resolved"] = False
        discussion["notes"].append(note)
        mr.notes.append(note)
        return note

    # --- routes -------------------------------------------------------------------------------

    def _post_reply(self: FakeGitLab, request: Request) -> Response:
        mr = self._mr(request)
        if mr is None:
            return json_response({"message": "404 Not found"}, 404)
        data = request.json() or {}
        if not str(data.get("body") or "").strip():
            return json_response({"message": "400 Bad request - body is missing"}, 400)
        with self._state_lock:
            discussion = self._discussion(mr, request.params["did"])
            if discussion is None:
                return json_response({"message": "404 Discussion Not Found"}, 404)
            body = self._run_quick_actions(mr, str(data["body"]))
            note = self._threaded_note(mr, discussion, body, self.bot_username)
        return json_response(note, 201)

    def _put_discussion(self: FakeGitLab, request: Request) -> Response:
        mr = self._mr(request)
        if mr is None:
            return json_response({"message": "404 Not found"}, 404)
        data = request.json() or {}
        raw = data.get("resolved", request.query.get("resolved"))
        if raw is None:
            return json_response({"error": "resolved is missing"}, 400)
        if raw not in (True, False, "true", "false"):
            return json_response({"error": "resolved is invalid"}, 400)
        resolved = raw in (True, "true")
        with self._state_lock:
            discussion = self._discussion(mr, request.params["did"])
            if discussion is None:
                return json_response({"message": "404 Discussion Not Found"}, 404)
            if discussion["individual_note"] or not discussion["notes"][0].get("resolvable"):
                return json_response({"message": "403 Forbidden"}, 403)
            for note in discussion["notes"]:
                note["resolved"] = resolved
                note["resolved_by"] = self._user(self.bot_username) if resolved else None
        return json_response(discussion)

    def _find_note(self: FakeGitLab, request: Request) -> tuple[FakeMR | None, Any]:
        mr = self._mr(request)
        if mr is None:
            return None, None
        nid = int(request.params["note_id"])
        return mr, next((n for n in mr.notes if n["id"] == nid), None)

    def _get_awards(self: FakeGitLab, request: Request) -> Response:
        mr, note = self._find_note(request)
        if mr is None or note is None:
            return json_response({"message": "404 Note Not Found"}, 404)
        with self._state_lock:
            items = list(self.awards.get(note["id"], []))
        page, headers = paginate(
            items, request, default=20, maximum=100, size_param="per_page", base_url=self.url
        )
        return json_response(page, headers=headers)

    def _post_award(self: FakeGitLab, request: Request) -> Response:
        mr, note = self._find_note(request)
        if mr is None or note is None:
            return json_response({"message": "404 Note Not Found"}, 404)
        name = str((request.json() or {}).get("name") or "")
        if not name:
            return json_response({"error": "name is missing"}, 400)
        if name not in EMOJI:
            return json_response(
                {"message": '404 Award Emoji {:name=>["is not a valid emoji name"]} Not Found'},
                404,
            )
        with self._state_lock:
            mine = [
                a
                for a in self.awards.get(note["id"], [])
                if a["name"] == name and a["user"]["username"] == self.bot_username
            ]
            if mine:
                return json_response(
                    {"message": '404 Award Emoji {:name=>["has already been taken"]} Not Found'},
                    404,
                )
            award = self.award(note["id"], name, self.bot_username)
        return json_response(award, 201)

    def _get_member(self: FakeGitLab, request: Request) -> Response:
        if self._project(request) is None:
            return json_response({"message": "404 Project Not Found"}, 404)
        uid = int(request.params["user_id"])
        name = next((u for u, i in self.users.items() if i == uid), None)
        level = self.access_levels.get(name or "")
        if name is None or level is None:
            return json_response({"message": "404 Member Not Found"}, 404)
        return json_response({**self._user(name), "access_level": level, "state": "active"})

    def _get_commits(self: FakeGitLab, request: Request) -> Response:
        mr = self._mr(request)
        if mr is None:
            return json_response({"message": "404 Not found"}, 404)
        with self._state_lock:
            commits = list(reversed(self._commits(mr.project, mr.iid)))  # newest first
        items = [
            {"id": sha, "short_id": sha[:8], "title": f"commit {sha[:8]}"} for sha, _ in commits
        ]
        page, headers = paginate(
            items, request, default=20, maximum=100, size_param="per_page", base_url=self.url
        )
        return json_response(page, headers=headers)

    def _get_compare(self: FakeGitLab, request: Request) -> Response:
        project = self._project(request)
        if project is None:
            return json_response({"message": "404 Project Not Found"}, 404)
        start, end = request.query.get("from"), request.query.get("to")
        if not start or not end:
            return json_response({"error": "from is missing, to is missing"}, 400)
        with self._state_lock:
            history: list[tuple[str, tuple[str, ...]]] = []
            for (proj, _iid), commits in self.mr_commits.items():
                if proj == project:
                    history += commits
            for key, mr in self.mrs.items():
                if mr.project == project and key not in self.mr_commits:
                    history += self._commits(*key)
            shas = [sha for sha, _ in history]
            if start not in shas or end not in shas:
                return json_response({"message": "404 Ref Not Found"}, 404)
            lo, hi = shas.index(start), shas.index(end)
            between = history[lo + 1 : hi + 1] if lo < hi else []
        paths = sorted({p for _, touched in between for p in touched})
        return json_response(
            {
                "commit": {"id": end},
                "commits": [{"id": sha} for sha, _ in between],
                "diffs": [
                    {"old_path": p, "new_path": p, "diff": "", "new_file": False} for p in paths
                ],
                "compare_timeout": False,
                "compare_same_ref": start == end,
            }
        )
