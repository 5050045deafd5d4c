"""Settings: built once from `<data dir>/revisor.toml` plus `REVISOR_*` environment variables,
then passed down. Nothing reads configuration at import time.

Environment overrides use `REVISOR_<SECTION>__<KEY>` (double underscore), for example
`REVISOR_SERVER__PORT=9000`. Secrets are never values in this file: settings that need one name
a file (`*_file`) or live encrypted in the database.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revisor.errors import ConfigError

CONFIG_NAME = "revisor.toml"


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    # The address Git servers use to reach this appliance; printed as the webhook URL. Empty:
    # this server's own scheme, host and port (`Settings.public_base_url`).
    public_url: str = ""
    max_body_bytes: int = 25 * 1024 * 1024
    # GitLab signed webhooks: accepted clock skew for `webhook-timestamp`.
    signature_tolerance_seconds: int = 300
    metrics_public: bool = False  # False: /metrics needs loopback or the admin role


@dataclass(frozen=True)
class WebSettings:
    """TLS and reverse proxies. With `tls_cert` and `tls_key` set, `revisor serve` speaks HTTPS
    itself (Granian), cookies are `Secure` and responses carry HSTS. `trusted_proxies` lists the
    addresses or networks whose `X-Forwarded-For` is believed; nobody else's is."""

    tls_cert: str = ""  # PEM certificate chain (leaf first)
    tls_key: str = ""  # PEM private key, readable by revisor alone
    trusted_proxies: tuple[str, ...] = ()  # "10.0.0.5", "10.1.0.0/24", "::1"

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("[web] tls_cert and tls_key must be set together")
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(
                    f"[web] trusted_proxies: {entry!r} is not an IP address or network"
                ) from None

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = 2
    lease_seconds: int = 300
    reap_interval_seconds: float = 15.0
    max_attempts: int = 6
    backoff_base_seconds: float = 10.0
    backoff_max_seconds: float = 900.0


@dataclass(frozen=True)
class ReviewSettings:
    """Admin defaults; a repository's `.revisor.toml` may tighten some (see review.policy)."""

    min_severity: str = "minor"
    max_comments: int = 25
    max_file_bytes: int = 200_000
    max_files: int = 300
    ignore: tuple[str, ...] = ()
    extra_instructions: str = ""
    # The review pipeline's stages beyond one pass over the diff, each kept because the quality
    # benchmark (bench/quality) measured that it helps; an admin may turn one off.
    widen_context: bool = True  # hunks widened to their enclosing function (head revision)
    verify: bool = True  # a second, short model call confirms each finding before it is posted
    analyzers: bool = True  # ruff and the ast-grep rule pack, their hits confirmed by the model
    guidance_files: bool = True  # AGENTS.md / CONTRIBUTING.md of the target branch shown too
    # [[review.path_instructions]] tables {path = "<glob>", instructions = "..."} (review.policy)
    path_instructions: tuple[Mapping[str, Any], ...] = ()
    # Answers to comments (worker/conversation.py), per merge request and per author an hour.
    answers_per_mr_hour: int = 20
    answers_per_author_hour: int = 10


@dataclass(frozen=True)
class EndpointSettings:
    """An OpenAI-compatible model endpoint configured in revisor.toml."""

    id: str
    url: str
    model: str = ""
    api_key_file: str = ""
    max_concurrency: int = 1
    timeout_seconds: float = 300.0
    context_tokens: int = 8192


@dataclass(frozen=True)
class ModelSettings:
    # Engine and model of the embedded sidecar started by `revisor up`.
    engine: str = "llama.cpp"
    default_model: str = "smollm2-135m-instruct-q4_1"
    sidecar_host: str = "127.0.0.1"
    sidecar_port: int = 8081
    sidecar_context: int = 8192
    sidecar_parallel: int = 1
    # llama.cpp GPU offload (revisor.inference.gpu): layers on the GPU, None = all (-1) when
    # llama-cpp-python is a GPU build, else 0; the GPU holding the rest; the split across GPUs.
    gpu_layers: int | None = None
    main_gpu: int = 0
    tensor_split: tuple[float, ...] = ()
    flash_attn: bool = False
    # The Python of the venv vLLM is installed in (`[model] engine = "vllm"`); `make vllm` makes
    # a CPU one in the checkout for the tests (docs/models.md).
    vllm_python: str = "/opt/revisor/vllm-venv/bin/python"
    # How long `revisor up` waits for the sidecar to answer (vLLM on CPU: minutes; big GPU
    # models too).
    sidecar_start_seconds: float = 600.0
    max_output_tokens: int = 1024
    temperature: float = 0.1
    # Sent with every request, so sampling draws the same way each time (llama.cpp's prompt
    # cache can still change a review a little: docs/models.md); -1: none.
    seed: int = 0
    # "auto" (per engine: llm/schema.py, chosen by bench/structured.py), "json_object" (grammar-
    # free JSON mode) or "json_schema" (the findings schema as a grammar) for every endpoint.
    structured_output: str = "auto"
    endpoints: tuple[EndpointSettings, ...] = ()
    fallback: str = ""  # endpoint id used when the routed one is unavailable
    routes: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class LdapSettings:
    enabled: bool = False
    servers: tuple[str, ...] = ()  # ldaps://host:636 or ldap://host:389 (with start_tls)
    start_tls: bool = False
    ca_file: str = ""
    bind_dn: str = ""
    bind_password_file: str = ""
    user_base: str = ""
    user_filter: str = "(uid={username})"
    group_base: str = ""
    nested_groups: bool = True
    nested_depth: int = 5
    connect_timeout_seconds: float = 5.0
    receive_timeout_seconds: float = 10.0
    # group DN -> role (admin, maintainer, auditor, viewer)
    group_roles: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthSettings:
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    # Failed sign-ins allowed before backoff: per username from one address, and per address.
    login_attempts_per_user: int = 5
    login_attempts_per_address: int = 20
    login_window_minutes: int = 15
    # Past those, each further attempt waits base, 2*base, 4*base ... (at most max) after the
    # previous failure. Per address, never per account alone: nobody can lock an account out.
    login_backoff_base_seconds: float = 15.0
    login_backoff_max_seconds: float = 900.0
    cookie_secure: bool = False  # True behind a TLS proxy; implied by [web] tls_cert


@dataclass(frozen=True)
class AuditSettings:
    # A signed checkpoint at least every N records and every M minutes (and at every export).
    checkpoint_every: int = 100
    checkpoint_minutes: float = 5.0
    # Where each checkpoint is shipped as it is made: "auto" (/dev/log when it exists), "off",
    # a Unix socket path, or "host:port" (UDP). A copy off the box is what makes cutting the
    # tail of the log detectable.
    syslog: str = "auto"
    # `revisor signer`'s Unix socket. Empty: sign in this process with <data dir>/keys/.
    signer_socket: str = ""
    # Where `revisor signer` keeps its key and state. Empty: <data dir>/keys.
    signer_dir: str = ""


@dataclass(frozen=True)
class LogSettings:
    level: str = "info"
    format: str = "json"
    levels: Mapping[str, str] = field(default_factory=dict)  # component -> level


@dataclass(frozen=True)
class EgressSettings:
    # Extra hosts the appliance may reach besides the ones derived from its configuration.
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    server: ServerSettings = field(default_factory=ServerSettings)
    web: WebSettings = field(default_factory=WebSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    ldap: LdapSettings = field(default_factory=LdapSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    log: LogSettings = field(default_factory=LogSettings)
    egress: EgressSettings = field(default_factory=EgressSettings)

    def data_path(self, value: str) -> Path:
        """A path named in the configuration; a relative one is relative to the data dir."""
        return self.data_dir / Path(value).expanduser()

    @property
    def cookies_secure(self) -> bool:
        """Browsers reach us over HTTPS: our own TLS, or a TLS proxy (`cookie_secure`)."""
        return self.web.tls or self.auth.cookie_secure

    @property
    def public_base_url(self) -> str:
        """Where Git servers and browsers reach this appliance: `[server] public_url` when set,
        else the scheme, host and port this server listens on (a wildcard address names this
        machine), so a changed port or `--port` is never shown as the default 8080."""
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        host = self.server.host
        if host in ("", "0.0.0.0", "::"):  # noqa: S104 (a comparison, not a bind)
            host = os.uname().nodename
        elif ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.web.tls else "http"
        return f"{scheme}://{host}:{self.server.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "revisor.db"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    @property
    def audit_path(self) -> Path:
        return self.data_dir / "audit.db"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"


_SECTIONS: dict[str, type[Any]] = {
    "server": ServerSettings,
    "web": WebSettings,
    "worker": WorkerSettings,
    "review": ReviewSettings,
    "model": ModelSettings,
    "ldap": LdapSettings,
    "auth": AuthSettings,
    "audit": AuditSettings,
    "log": LogSettings,
    "egress": EgressSettings,
}


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("REVISOR_DATA_DIR", "./revisor-data")).expanduser()


def load(data_dir: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read `revisor.toml` in `data_dir` (if present) and apply `REVISOR_*` overrides."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    path = data_dir / CONFIG_NAME
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    _apply_env(raw, env)
    unknown = set(raw) - set(_SECTIONS)
    if unknown:
        raise ConfigError(f"{path}: unknown section(s): {', '.join(sorted(unknown))}")
    sections = {name: _build(cls, raw.get(name, {}), name) for name, cls in _SECTIONS.items()}
    return Settings(data_dir=data_dir.resolve(), **sections)


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for key, value in env.items():
        if not key.startswith("REVISOR_") or "__" not in key:
            continue
        section, _, name = key[len("REVISOR_") :].lower().partition("__")
        raw.setdefault(section, {})[name] = _coerce_env(value)


def _coerce_env(value: str) -> Any:
    lowered = value.strip().lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _build(cls: type[Any], values: Any, section: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"[{section}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(f"[{section}] unknown key(s): {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if section == "model" and name == "endpoints":
            kwargs[name] = tuple(_build(EndpointSettings, v, "model.endpoints") for v in value)
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
        default = fields[name].default
        if default is not dataclasses.MISSING and default is not None:
            _check_type(section, name, default, kwargs[name])
    return cls(**kwargs)


def _check_type(section: str, name: str, default: Any, value: Any) -> None:
    if isinstance(default, bool) != isinstance(value, bool):
        raise ConfigError(f"[{section}] {name} must be true or false")
    if isinstance(default, float) and isinstance(value, int):
        return
    if not isinstance(value, type(default)):
        expected = type(default).__name__
        raise ConfigError(f"[{section}] {name} must be {expected}, got {value!r}")


def set_missing(text: str, section: str, values: Mapping[str, str]) -> str:
    """`text` (a revisor.toml) with each of `values` set in `[section]` unless already set there.

    Lines are inserted right below the section's header (a section is appended if absent);
    comments and everything else stay as they are. The result is parsed to prove it is valid.
    """
    try:
        present = tomllib.loads(text).get(section, {})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{CONFIG_NAME}: not valid TOML: {exc}") from None
    lines = [f"{k} = {json.dumps(v)}" for k, v in values.items() if k not in present]
    if not lines:
        return text
    out = text.splitlines()
    pattern = re.compile(rf"\s*\[\s*{re.escape(section)}\s*\]\s*(#.*)?")
    header = next((i for i, line in enumerate(out) if pattern.fullmatch(line)), None)
    if header is None:
        out += ["", f"[{section}]", *lines]
    else:
        out[header + 1 : header + 1] = lines
    result = "\n".join(out) + "\n"
    try:
        tomllib.loads(result)
    except tomllib.TOMLDecodeError as exc:  # e.g. [section] written as an inline table
        keys = ", ".join(values)
        raise ConfigError(f"{CONFIG_NAME}: cannot add {keys} to [{section}]: {exc}") from None
    return result


DEFAULT_TOML = """\
# Revisor configuration. Every key is optional; the values shown are the defaults.
# Environment variables override keys: REVISOR_<SECTION>__<KEY>, e.g. REVISOR_SERVER__PORT=9000.
# Secrets never go in this file: settings that need one name a file readable only by revisor.

[server]
# host = "127.0.0.1"
# port = 8080
# workers = 1
# public_url = "http://127.0.0.1:8080"   # what Git servers use to reach the webhooks (https://
#                                        # once [web] tls_cert is set)
# max_body_bytes = 26214400                # webhook body cap (413 above it)
# signature_tolerance_seconds = 300        # GitLab signed webhooks: allowed clock skew

[web]
# HTTPS without a proxy: `revisor init --self-signed-tls` makes a certificate and sets these two
# (then cookies are Secure and answers carry HSTS). Or name the site CA's certificate and key.
# tls_cert = "/var/lib/revisor/tls/cert.pem"
# tls_key = "/var/lib/revisor/tls/key.pem"       # mode 0600, readable by revisor alone
# trusted_proxies = []     # reverse proxies whose X-Forwarded-For is believed, e.g. ["10.0.0.5"]

[worker]
# concurrency = 2
# lease_seconds = 300        # a job whose worker vanished is re-queued after this
# max_attempts = 6           # then the job ends "failed" (dead letter) with its last error
# backoff_base_seconds = 10

[review]
# min_severity = "minor"     # info | minor | major | critical
# max_comments = 25
# max_file_bytes = 200000
# ignore = ["docs/generated/**"]
# extra_instructions = ""
# widen_context = true       # show the model each hunk's enclosing function
# verify = true              # a second model call confirms each finding before posting
# analyzers = true           # ruff + ast-grep hits, posted only when the model confirms them
# guidance_files = true      # show the model AGENTS.md / CONTRIBUTING.md of the target branch
# [[review.path_instructions]]  # guidance for the files matching a glob (up to 50 tables)
# path = "src/api/**"
# instructions = "Every handler checks the caller's permission."

[model]
# engine = "llama.cpp"       # the embedded sidecar: llama.cpp or vllm
# default_model = "smollm2-135m-instruct-q4_1"
# sidecar_port = 8081
# sidecar_context = 8192
# gpu_layers = -1            # llama.cpp: layers on the GPU; unset = all with a GPU build, else 0
# main_gpu = 0               # the GPU for the model (or the rest of it); tensor_split = [0.5, 0.5]
# flash_attn = false         # llama.cpp flash attention (GPU)
# vllm_python = "/opt/revisor/vllm-venv/bin/python"   # engine = "vllm": the venv vLLM is in
# sidecar_start_seconds = 600  # how long `revisor up` waits for the sidecar to answer
# structured_output = "auto" # per engine (llm/schema.py: vllm and llama.cpp json_schema), or
#                            # json_object | json_schema for every endpoint
# seed = 0                   # sent with each request (no sampling luck); -1: none
# fallback = ""              # endpoint id to use when the routed one is down
# [[model.endpoints]]        # external OpenAI-compatible endpoints (or `revisor model add`)
# id = "gpu1"
# url = "https://gpu1.internal:8000/v1"
# model = "qwen2.5-coder-32b"
# api_key_file = "/etc/revisor/gpu1.key"
# max_concurrency = 8

[ldap]
# enabled = false
# servers = ["ldaps://ldap1.internal:636", "ldaps://ldap2.internal:636"]
# ca_file = "/etc/revisor/ldap-ca.pem"
# bind_dn = "cn=revisor,ou=services,dc=example,dc=org"
# bind_password_file = "/etc/revisor/ldap-bind.pw"
# user_base = "ou=people,dc=example,dc=org"
# group_base = "ou=groups,dc=example,dc=org"
# [ldap.group_roles]
# "cn=revisor-admins,ou=groups,dc=example,dc=org" = "admin"

[auth]
# session_idle_minutes = 30
# session_absolute_hours = 12
# cookie_secure = false      # true behind a TLS proxy; implied by [web] tls_cert
# login_attempts_per_user = 5      # per username and address, then exponential backoff
# login_attempts_per_address = 20
# login_backoff_base_seconds = 15
# login_backoff_max_seconds = 900

[log]
# level = "info"
# [log.levels]
# worker = "debug"
"""
