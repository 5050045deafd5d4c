"""`revisor serve`, `revisor worker` and `revisor up`: the long-running processes."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from typing import Any

from revisor import config, logs, metrics
from revisor.audit.signer import signer_paths, spawn_signer
from revisor.cli import add_common
from revisor.context import Context
from revisor.inference.ports import ensure_free
from revisor.inference.supervise import ProcessGroup, StopSignals
from revisor.llm.registry import uses_embedded_model
from revisor.store import endpoints

launcher_log = logging.getLogger("revisor.inference.launcher")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the web server (Litestar under Granian)")
    add_common(p)
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run the Huey consumer that reviews jobs")
    add_common(p)
    p.add_argument("--concurrency", type=int, default=None)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("up", help="run web server, worker and model sidecar together")
    add_common(p)
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=cmd_up)


def listen_env(args: argparse.Namespace) -> dict[str, str]:
    """`--host` and `--port` as settings for the processes started from here, so the web
    workers and the worker build webhook and job URLs with the address really served."""
    env = {}
    if args.host:
        env["REVISOR_SERVER__HOST"] = str(args.host)
    if args.port:
        env["REVISOR_SERVER__PORT"] = str(args.port)
    return env


def granian_tls(settings: config.Settings) -> dict[str, Any]:
    """Granian's TLS arguments ({} for plain HTTP), after checking the files; says on stderr
    when the server will speak plain HTTP, or when public_url does not match."""
    web, public_url = settings.web, settings.public_base_url
    if not web.tls:
        if not settings.auth.cookie_secure:
            print(
                "revisor serve: plain HTTP (no [web] tls_cert): fine for local development; an"
                " appliance serves HTTPS (`revisor init --self-signed-tls`, docs/operations.md)",
                file=sys.stderr,
            )
        return {}
    from revisor.web.tls import check_readable

    cert, key = check_readable(settings.data_path(web.tls_cert), settings.data_path(web.tls_key))
    if not public_url.startswith("https://"):
        print(
            f"revisor serve: [server] public_url is {public_url} but this server speaks HTTPS;"
            " Git servers are given that URL for their webhooks: make it https://",
            file=sys.stderr,
        )
    return {"ssl_cert": cert, "ssl_key": key}


def cmd_serve(args: argparse.Namespace, rt: Context) -> int:
    from granian import Granian
    from granian.constants import Interfaces, Loops

    s = rt.settings.server
    tls_files = granian_tls(rt.settings)
    os.environ["REVISOR_DATA_DIR"] = str(rt.settings.data_dir)
    os.environ.update(listen_env(args))  # the web workers show webhook URLs with this port
    metrics.clean(metrics.metrics_dir(rt.settings.data_dir), keep_live=True)
    Granian(
        target="revisor.web.factory:build",
        factory=True,
        address=args.host or s.host,
        port=args.port or s.port,
        interface=Interfaces.ASGI,
        loop=Loops.uvloop,  # a dependency; measurably faster than asyncio's loop here
        workers=args.workers or s.workers,
        log_access=False,
        **tls_files,
    ).serve()
    return 0


def cmd_worker(args: argparse.Namespace, rt: Context) -> int:
    from revisor.worker.main import run_worker

    run_worker(rt.settings, concurrency=args.concurrency or rt.settings.worker.concurrency)
    return 0


def cmd_up(args: argparse.Namespace, rt: Context) -> int:
    """Serve + worker (+ sidecar) as child processes; Ctrl-C or SIGTERM stops them all.

    The stop signals are caught before anything starts and both ports are checked before
    anything starts (a busy one ends the command with exit code 2, naming its holder). Every
    child dies with this process, even a SIGKILLed one (revisor/inference/supervise.py).
    """
    with StopSignals() as stop:
        logs.configure(logs.LAUNCHER, rt.settings.log, rt.settings.log_dir)
        group = ProcessGroup()
        try:
            return _up(args, rt, group, stop)
        finally:
            group.close(timeout=30)
            if stop.is_set():
                launcher_log.info("stopped by %s", stop.name)


def _up(args: argparse.Namespace, rt: Context, group: ProcessGroup, stop: StopSignals) -> int:
    s = rt.settings.server
    data = ["--data-dir", str(rt.settings.data_dir)]
    base = [sys.executable, "-m", "revisor"]
    sidecar = None
    if uses_embedded_model(rt.settings, endpoints.list_endpoints(rt.db)):
        from revisor.inference.sidecar import Sidecar

        sidecar = Sidecar.from_settings(rt.settings)
        sidecar.check_port()
    ensure_free(
        args.host or s.host,
        args.port or s.port,
        what="the web server",
        setting="--port, server.port, REVISOR_SERVER__PORT",
    )
    metrics.clean(metrics.metrics_dir(rt.settings.data_dir), keep_live=False)
    children: dict[str, subprocess.Popen[bytes]] = {}
    signer: list[subprocess.Popen[bytes]] = []
    try:
        if stop.is_set():  # asked to stop while checking: start nothing
            return 0
        if sidecar is not None:
            launcher_log.info("starting the model sidecar on %s", sidecar.base_url)
            sidecar.start(group)
            start_seconds = rt.settings.model.sidecar_start_seconds
            if not sidecar.wait_healthy(timeout=start_seconds, stop=stop.is_set):
                return 0
            launcher_log.info("model sidecar ready (model %s)", sidecar.model_id)
        serve = [*base, "serve", *data]
        if args.host:
            serve += ["--host", args.host]
        if args.port:
            serve += ["--port", str(args.port)]
        # The audit key in its own process, as on the appliance; serve and worker ask it to sign.
        _key_dir, sock = signer_paths(rt.settings)
        env = {**os.environ, "REVISOR_AUDIT__SIGNER_SOCKET": str(sock), **listen_env(args)}
        signer.append(spawn_signer([*base, "signer", *data], sock, group.spawn))
        children["serve"] = group.spawn(serve, env=env)
        children["worker"] = group.spawn([*base, "worker", *data], env=env)
        while not stop.wait(0.5):
            for name, child in {"signer": signer[0], **children}.items():
                if child.poll() is not None:
                    launcher_log.error("%s exited with %s; stopping", name, child.returncode)
                    return 1
            if sidecar is not None and not sidecar.running():
                launcher_log.error("model sidecar exited; see %s", sidecar.log_path)
                return 1
        return 0
    finally:
        # The worker and the web server first (they use the model and may still checkpoint),
        # then the signer and the sidecar.
        group.terminate(list(children.values()), timeout=30)
        group.terminate(signer, timeout=30)
        if sidecar is not None:
            sidecar.stop()
