"""How much latency and throughput the OpenAI-compatible gateway (project 02) costs.

The same chat-completion requests go straight to the fake upstream and through the
gateway in front of it (``openai/<model>`` routed to the fake), non-streaming and
streaming, at concurrency 1 and 32, bounded by a request count and a time limit. Reported
per run: p50 / p99 latency, time to first token (streams), requests per second, and the
gateway's added cost relative to the direct run measured in the same invocation.

    uv run python benchmarks/gateway_overhead.py                # start both, measure
    uv run python benchmarks/gateway_overhead.py --gateway-url http://127.0.0.1:4000/v1 \
        --gateway-model openai/gpt-4o-mini                      # measure another gateway
    uv run python benchmarks/gateway_overhead.py --project 03   # the metered gateway

With ``--project 03`` the gateway is project 03's (an API key, a budget reservation and a
ledger settlement per call, on a migrated SQLite file): the targets are for project 02's
plain gateway and are not checked then; the figures show what metering costs.

The gateway runs as one uvicorn worker pinned to CPU 0 (``taskset``) when available; the
fake upstream and the load generator share the other core. Everything is on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from harness import (
    ANY_KEY,
    Endpoint,
    Run,
    free_port,
    measure_each,
    pinned,
    process,
    signed_up_api_key,
)

REPO = Path(__file__).resolve().parents[1]
TARGETS = {
    "added_p50_ms_c1": 1.5,
    "rps_c32": 1000.0,
    "added_ttft_ms_c1": 1.5,
}


def report(runs: list[Run]) -> None:
    header = f"{'run':<10}{'stream':<8}{'conc':>5}{'n':>7}{'err':>5}{'p50 ms':>9}{'p99 ms':>9}"
    header += f"{'ttft50':>9}{'req/s':>9}{'cpu ms/req':>12}"
    print(header)
    print("-" * len(header))
    for r in runs:
        ttft = f"{r.ttft50():9.2f}" if r.stream else f"{'':>9}"
        print(
            f"{r.label:<10}{'yes' if r.stream else 'no':<8}{r.concurrency:>5}{len(r.latencies):>7}"
            f"{r.errors:>5}{r.p50():9.2f}{r.p99():9.2f}{ttft}{r.rps:9.0f}"
            + (f"{r.cpu_ms_per_request:12.3f}" if r.cpu_ms_per_request is not None else "")
        )


def compare(runs: list[Run]) -> dict[str, float]:
    by_key = {(r.label, r.stream, r.concurrency): r for r in runs}
    summary: dict[str, float] = {}
    print("\ngateway vs direct (same invocation):")
    for stream in (False, True):
        for conc in sorted({r.concurrency for r in runs}):
            direct = by_key.get(("direct", stream, conc))
            gateway = by_key.get(("gateway", stream, conc))
            if not direct or not gateway:
                continue
            added = gateway.p50() - direct.p50()
            line = (
                f"  {'stream' if stream else 'non-stream':<11} c={conc:<3} added p50 "
                f"{added:7.2f} ms  p50 ratio {gateway.p50() / direct.p50():5.2f}x  "
                f"req/s {gateway.rps:7.0f} vs {direct.rps:7.0f} ({gateway.rps / direct.rps:4.2f}x)"
            )
            if gateway.cpu_ms_per_request:
                line += f"  gateway cpu {gateway.cpu_ms_per_request:5.3f} ms/req"
                line += f" (ceiling ~{1000 / gateway.cpu_ms_per_request:5.0f} req/s per core)"
            if stream:
                added_ttft = gateway.ttft50() - direct.ttft50()
                line += f"  added ttft {added_ttft:6.2f} ms"
                summary[f"added_ttft_ms_c{conc}"] = added_ttft
            else:
                summary[f"added_p50_ms_c{conc}"] = added
                summary[f"rps_c{conc}"] = gateway.rps
            print(line)
    return summary


def check_targets(summary: dict[str, float]) -> None:
    print("\ntargets (one gateway worker on one core, against the fake upstream):")
    for key, target in TARGETS.items():
        if key not in summary:
            continue
        value = summary[key]
        ok = value >= target if key.startswith("rps") else value <= target
        bound = ">=" if key.startswith("rps") else "<="
        gap = "" if ok else f"   gap: {abs(value - target):.2f}"
        print(
            f"  {key:<18} {value:9.2f}  target {bound} {target:<8} "
            f"{'met' if ok else 'NOT met'}{gap}"
        )


async def main_async(args: argparse.Namespace) -> None:
    upstream_port = free_port()
    upstream_cmd = [
        *pinned("1"),
        sys.executable,
        "-m",
        "genai_shared.testing.fake_upstream",
        "--port",
        str(upstream_port),
    ]
    runs: list[Run] = []
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LOG_LEVEL": "WARNING",
    }
    with process(upstream_cmd, upstream_port, env=env) as upstream_pid:
        direct_url = f"http://127.0.0.1:{upstream_port}/v1/chat/completions"
        gateway_port = free_port()
        gateway_env = {
            **env,
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
            "DATABASE_URL": "sqlite+aiosqlite:///:memory:",
            "PORT": str(gateway_port),
        }
        token = ANY_KEY
        app_factory = "multi_provider_chat.main:create_app"
        if args.project == "03":
            app_factory = "secure_chat_api.main:create_app"
            gateway_env.update(project_03_env())
        if args.gateway_url:
            gateway_url, gateway_model = (
                args.gateway_url.rstrip("/") + "/chat/completions",
                args.gateway_model,
            )
            context = contextmanager(lambda: iter([0]))()
        else:
            gateway_url = f"http://127.0.0.1:{gateway_port}/v1/chat/completions"
            gateway_model = f"openai/{args.model}"
            cmd = [
                *pinned("0"),
                sys.executable,
                "-m",
                "uvicorn",
                app_factory,
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(gateway_port),
                "--no-access-log",
                "--log-level",
                "warning",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
            ]
            context = process(cmd, gateway_port, env=gateway_env)
        with context as gateway_pid:
            if args.project == "03" and not args.gateway_url:
                token = await signed_up_api_key(f"http://127.0.0.1:{gateway_port}")
            endpoints = (
                Endpoint("direct", direct_url, args.model, pid=upstream_pid),
                Endpoint("gateway", gateway_url, gateway_model, token, pid=gateway_pid),
            )
            for stream in (False, True):
                runs += await measure_each(
                    endpoints,
                    args.concurrency,
                    stream=stream,
                    requests=args.requests,
                    max_seconds=args.max_seconds,
                )
    report(runs)
    summary = compare(runs)
    if args.project == "02":
        check_targets(summary)
    else:
        print("\n(the targets are for project 02's plain gateway; project 03 adds an API-key")
        print(" check, a budget reservation and a ledger settlement, each a SQLite transaction)")


def project_03_env() -> dict[str, str]:
    """Project 03 on a migrated SQLite file, with limits and a budget no run reaches."""
    database_url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='bench-03-')}/bench.db"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnop",
        "RATE_LIMIT_CHAT": "100000000",
        "RATE_LIMIT_DEFAULT": "100000000",
        "RATE_LIMIT_AUTH": "100000000",
        "DEFAULT_MONTHLY_BUDGET_USD": "1000000",
    }
    ini = REPO / "projects" / "03_secure_chat_api" / "alembic.ini"
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head"],
        env=env,
        check=True,
        capture_output=True,
    )
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="per run (upper bound)")
    parser.add_argument("--max-seconds", type=float, default=8.0, help="per run (upper bound)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--model", default="gpt-4o-mini", help="model name at the upstream")
    parser.add_argument("--gateway-url", help="measure another OpenAI-compatible gateway (…/v1)")
    parser.add_argument("--gateway-model", default="openai/gpt-4o-mini")
    parser.add_argument(
        "--project", choices=["02", "03"], default="02", help="whose gateway to start"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
