"""Property-based tests of every parser that reads untrusted input: webhook bodies and headers
(down to the HTTP route), unified diffs, and model output. Any input gives a result or the
parser's own clear error, never another exception.

`tests/review/test_properties.py` already throws random text at the diff and model-output
parsers; here the inputs are *structured* (valid-looking payloads with wrong types in them,
generated well-formed hunks, findings with random field values) so the deeper branches run,
and the results are checked against invariants, not just "did not crash".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from revisor.domain import ForgeKind, LineKind
from revisor.errors import OutputInvalid
from revisor.forges import hooks as webhooks
from revisor.forges import hooks_for
from revisor.forges.gitea import hooks as gitea_hooks
from revisor.forges.gitlab import hooks as gitlab_hooks
from revisor.review.anchor import anchor
from revisor.review.parse import RawFinding, parse_output
from revisor.text.diff import parse_hunks
from revisor.web.app import create_app
from revisor.web.rejections import RejectionLimiter
from tests import webhook_payloads as wp
from tests.conftest import GITEA_SECRET, GITLAB_SECRET, DataDir

# --- strategies ---------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(["open", "update", "reopen", "opened", "synchronized", "created", "0" * 40]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _set_path(doc: Any, path: list[str], value: Any) -> Any:
    """Return a copy of `doc` with the value at `path` replaced (missing keys are created)."""
    if not path:
        return value
    out = dict(doc) if isinstance(doc, dict) else {}
    out[path[0]] = _set_path(out.get(path[0]), path[1:], value)
    return out


_BASES = [
    wp.gitlab_mr(),
    wp.gitlab_mr(action="update", oldrev=wp.OLDREV),
    wp.gitlab_mr(action=None),
    wp.gitlab_note(),
    wp.gitea_pr(),
    wp.gitea_comment(),
]
_PATHS = [
    ["object_kind"],
    ["project"],
    ["project", "path_with_namespace"],
    ["object_attributes"],
    ["object_attributes", "iid"],
    ["object_attributes", "action"],
    ["object_attributes", "state"],
    ["object_attributes", "draft"],
    ["object_attributes", "oldrev"],
    ["object_attributes", "last_commit"],
    ["object_attributes", "last_commit", "id"],
    ["object_attributes", "noteable_type"],
    ["object_attributes", "note"],
    ["merge_request"],
    ["merge_request", "iid"],
    ["action"],
    ["number"],
    ["pull_request"],
    ["pull_request", "title"],
    ["pull_request", "head", "sha"],
    ["pull_request", "state"],
    ["repository"],
    ["repository", "full_name"],
    ["issue"],
    ["issue", "number"],
    ["comment", "body"],
    ["is_pull"],
]


@st.composite
def mutated_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """A documented payload with a few fields replaced by arbitrary JSON."""
    doc: Any = draw(st.sampled_from(_BASES))
    for _ in range(draw(st.integers(1, 4))):
        doc = _set_path(doc, draw(st.sampled_from(_PATHS)), draw(json_values))
    return doc if isinstance(doc, dict) else {}


events = st.one_of(
    st.sampled_from(
        ["Merge Request Hook", "Note Hook", "Push Hook", "pull_request", "issue_comment", ""]
    ),
    st.text(max_size=20),
)

# --- webhook classification -----------------------------------------------------------------------


def _check_decision(decision: object) -> None:
    assert isinstance(decision, webhooks.Trigger | webhooks.Ignored)
    assert decision.project
    if isinstance(decision, webhooks.Trigger):
        assert isinstance(decision.mr_number, int)
        assert decision.mr_number > 0
        assert decision.head_sha == "" or webhooks.SHA_RE.match(decision.head_sha)
        assert decision.reason in {"open", "reopen", "update", "command"}


@settings(max_examples=300, deadline=None)
@given(events, st.one_of(mutated_payloads(), st.dictionaries(st.text(max_size=15), json_values)))
def test_classifiers_return_a_decision_or_a_payload_error(event: str, payload: Any) -> None:
    for classify in (gitlab_hooks.classify, gitea_hooks.classify):
        try:
            decision = classify(event, payload)
        except webhooks.PayloadError as exc:
            assert str(exc)  # noqa: PT017 (the message goes back to the sender as a 400)
            continue
        _check_decision(decision)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_parse_json_returns_an_object_or_a_payload_error(body: bytes) -> None:
    try:
        payload = webhooks.parse_json(body)
    except webhooks.PayloadError:
        return
    assert isinstance(payload, dict)


header_maps = st.dictionaries(
    st.sampled_from(
        [
            "x-gitlab-token",
            "x-gitlab-event-uuid",
            "idempotency-key",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "x-gitea-signature",
            "x-forgejo-signature",
            "x-gitea-delivery",
            "x-forgejo-delivery",
        ]
    ),
    st.one_of(st.text(max_size=80), st.sampled_from(["v1,", "v1,AAAA", "0", "-1", " ", "1e99"])),
)


@settings(max_examples=300, deadline=None)
@given(header_maps, st.binary(max_size=100), st.sampled_from(["", "s", GITLAB_SECRET]))
def test_authentication_and_dedup_keys_never_raise(
    headers: dict[str, str], body: bytes, secret: str
) -> None:
    assert gitlab_hooks.verify_token(headers.get("x-gitlab-token"), secret) in (True, False)
    assert gitea_hooks.verify_signature(headers, body, secret) in (True, False)
    verdict = gitlab_hooks.verify_signature(headers, body, secret, now=1e9, tolerance=300)
    assert verdict is None or isinstance(verdict, str)
    if not secret:  # an empty secret never authenticates anything
        assert gitlab_hooks.verify_token(headers.get("x-gitlab-token"), secret) is False
        assert gitea_hooks.verify_signature(headers, body, secret) is False
    for forge in ForgeKind:
        key = hooks_for(forge).delivery_key(headers, body, signed=False)
        assert key.startswith(f"{forge.value}:")
        assert len(key) <= 250


# --- the HTTP route ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataDir]:
    """The root conftest's data dir, once for the module (hypothesis runs many examples)."""
    from tests.conftest import data_dir

    gen = data_dir.__wrapped__(tmp_path_factory.mktemp("hooks"))  # type: ignore[attr-defined]
    yield next(gen)
    next(gen, None)


@pytest.fixture(scope="module")
def client(module_data_dir: DataDir) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app=create_app(module_data_dir.settings)) as c:
        # no 429s here: every example must reach authentication (the limiter has its own tests)
        c.app.state.resources.intake.limiter = RejectionLimiter(burst=10**9)
        yield c


http_bodies = st.one_of(
    st.binary(max_size=200),
    mutated_payloads().map(lambda p: json.dumps(p).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
)
http_headers = st.dictionaries(
    st.sampled_from(
        [
            "X-Gitlab-Event",
            "X-Gitlab-Event-UUID",
            "Idempotency-Key",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "X-Gitea-Event",
            "X-Forgejo-Event",
            "X-Gitea-Delivery",
            "Content-Type",
            "Content-Encoding",
            "X-Request-Id",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
    max_size=6,
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=http_bodies, headers=http_headers, authenticated=st.booleans())
def test_hook_routes_never_answer_5xx(
    client: TestClient,  # type: ignore[type-arg]
    module_data_dir: DataDir,
    body: bytes,
    headers: dict[str, str],
    authenticated: bool,
) -> None:
    gitlab = dict(headers)
    gitea = dict(headers)
    if authenticated:  # past authentication, so classification and storage are exercised
        gitlab["X-Gitlab-Token"] = GITLAB_SECRET
        gitea["X-Gitea-Signature"] = gitea_hooks.sign(GITEA_SECRET, body)
    routes = (
        ("/hooks/gitlab", gitlab),
        ("/hooks/gitea", gitea),
        (wp.hook_path(module_data_dir.gitlab), gitlab),
        (wp.hook_path(module_data_dir.gitea), gitea),
    )
    for path, hdrs in routes:
        r = client.post(path, content=body, headers=hdrs)
        assert r.status_code < 500, (path, r.status_code, r.text)
        if not authenticated:
            assert r.status_code == 401
        else:
            assert r.status_code in {200, 202, 400, 401, 404, 413}, r.status_code


# --- the diff parser: generated well-formed hunks ------------------------------------------------


@st.composite
def hunks(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]], int, int]:
    """A well-formed hunk: header with the right counts, then (kind, text) lines."""
    body = draw(
        st.lists(
            st.tuples(
                st.sampled_from([" ", "+", "-"]),
                st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20),
            ),
            min_size=1,
            max_size=30,
        )
    )
    old_start, new_start = draw(st.integers(1, 10_000)), draw(st.integers(1, 10_000))
    old = sum(1 for k, _ in body if k != "+")
    new = sum(1 for k, _ in body if k != "-")
    header = f"@@ -{old_start},{old} +{new_start},{new} @@ section\n"
    text = header + "".join(f"{k}{t}\n" for k, t in body)
    return text, body, old_start, new_start


@settings(max_examples=300, deadline=None)
@given(st.lists(hunks(), min_size=1, max_size=4))
def test_well_formed_hunks_parse_with_consistent_line_numbers(
    generated: list[tuple[str, list[tuple[str, str]], int, int]],
) -> None:
    parsed = parse_hunks("".join(g[0] for g in generated))
    assert len(parsed) == len(generated)
    for hunk, (_, body, old_start, new_start) in zip(parsed, generated, strict=True):
        assert [(ln.kind.value, ln.text) for ln in hunk.lines] == body
        old, new = old_start, new_start
        for line in hunk.lines:
            if line.kind is LineKind.ADDED:
                assert (line.old_line, line.new_line) == (None, new)
                new += 1
            elif line.kind is LineKind.REMOVED:
                assert (line.old_line, line.new_line) == (old, None)
                old += 1
            else:
                assert (line.old_line, line.new_line) == (old, new)
                old, new = old + 1, new + 1


@settings(max_examples=200, deadline=None)
@given(hunks(), st.integers(-3, 5))
def test_hunks_with_wrong_counts_are_refused_or_consistent(
    generated: tuple[str, list[tuple[str, str]], int, int], skew: int
) -> None:
    """A header that promises more or fewer lines than follow: a ValueError, never a crash."""
    text, body, old_start, new_start = generated
    _, _, rest = text.partition("\n")
    old = sum(1 for k, _ in body if k != "+") + skew
    bad = f"@@ -{old_start},{max(0, old)} +{new_start},{len(body)} @@\n" + rest
    try:
        parsed = parse_hunks(bad)
    except ValueError as exc:
        assert "line" in str(exc) or "hunk" in str(exc)  # noqa: PT017
        return
    for hunk in parsed:
        assert sum(1 for ln in hunk.lines if ln.kind is not LineKind.ADDED) == hunk.old_count
        assert sum(1 for ln in hunk.lines if ln.kind is not LineKind.REMOVED) == hunk.new_count


# --- the model-output parser and the anchoring --------------------------------------------------

field_values = st.one_of(json_values, st.integers(-5, 40), st.sampled_from(["app.py", "x/app.py"]))
findings = st.fixed_dictionaries(
    {},
    optional={
        "path": field_values,
        "line": field_values,
        "side": st.one_of(st.sampled_from(["new", "old", "left", "RIGHT"]), json_values),
        "severity": st.one_of(st.sampled_from(["minor", "high", "nit", "critical"]), json_values),
        "title": field_values,
        "body": field_values,
        "suggestion": field_values,
    },
)
model_answers = st.one_of(
    st.lists(findings, max_size=5).map(lambda f: json.dumps({"findings": f})),
    st.lists(findings, max_size=5).map(lambda f: "Sure!\n```json\n" + json.dumps(f) + "\n```"),
    st.lists(findings, min_size=1, max_size=5).map(
        lambda f: json.dumps({"findings": f})[: -len(json.dumps(f[-1])) // 2]  # cut off
    ),
    json_values.map(json.dumps),
)
DIFF = parse_hunks(
    "@@ -1,4 +1,6 @@\n import subprocess\n-def run(cmd):\n+def run(cmd, user_input):\n"
    "+    subprocess.call(user_input, shell=True)\n+    return cmd\n \n x = 1\n"
)


@settings(max_examples=200, deadline=None)
@given(model_answers)
def test_model_answers_parse_into_valid_findings_anchored_to_the_diff(text: str) -> None:
    from revisor.domain import FileDiff, FileStatus

    try:
        outcome = parse_output(text)
    except OutputInvalid as exc:
        assert str(exc)  # noqa: PT017
        return
    for raw in outcome.findings:
        assert isinstance(raw, RawFinding)
        assert raw.path
        assert raw.title
        assert raw.line >= 1
        assert raw.side in ("new", "old")
    files = [FileDiff("app.py", "app.py", FileStatus.MODIFIED, DIFF)]
    anchored = anchor(outcome.findings, files)
    assert len(anchored.findings) + anchored.dropped == len(outcome.findings)
    diff_positions = {
        (
            ln.old_line if ln.kind is not LineKind.ADDED else None,
            ln.new_line if ln.kind is not LineKind.REMOVED else None,
        )
        for ln in files[0].lines()
    }
    for finding in anchored.findings:
        assert finding.path == "app.py"
        assert (finding.old_line, finding.new_line) in diff_positions
