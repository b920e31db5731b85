"""Warm overhead per request for every route of the API, against a bare Flask app in the same run.

Each route is answered by the real Lambda entry (`http_handler`, observability included) over
the service's own app, with the in-memory adapters of tests/unit/fakes.py, so what is timed is
everything a warm function does but the I/O: API Gateway 2.0 event to WSGI, routing, parsing and
validation, the rules, JSON out, logs and metrics. The baseline is a bare Flask app behind
serverless-wsgi (bench/bare.py) answering the same event with the same status and JSON body,
captured from the real answer. Calls alternate, real then bare, so drift hits both alike.

Tracing is measured as deployed (X-Ray active, what it records sent over UDP to a daemon address
nobody listens on) and, for comparison, with tracing off; each in a process of its own, since
the tracer is set up when observability is imported.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.cold_start import TRACE_ID
from bench.figures import (
    ROOT,
    Figure,
    Section,
    arguments,
    before_of,
    command,
    finish,
    percentile,
    ratio,
    times,
    us,
    verdict,
)

if TYPE_CHECKING:
    from bench.warm_cases import Case

GOAL_P50 = 1.5
CALLS = 400
WARMUP = 20
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

LAMBDA_ENVIRONMENT = {
    "LAMBDA_TASK_ROOT": str(ROOT),
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "_X_AMZN_TRACE_ID": TRACE_ID,
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
}
COMMON_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "ecommerce/bench",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class Context:
    function_name = "bench"
    aws_request_id = "6f1d3c2a-0b9e-4c8d-a7f6-5e4d3c2b1a09"
    memory_limit_in_mb = 512
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def cases(calls: int) -> list["Case"]:
    """Every route of the route table, each with what its calls need set up beforehand.

    Imported here, in the measuring process: the services set up their tracer on import."""
    from bench import warm_cases
    from services.routes import ROUTES

    found = [*warm_cases.products(calls), *warm_cases.users(calls), *warm_cases.orders(calls)]
    missing = {route.key for route in ROUTES} - {case.route for case in found}
    if missing:
        raise AssertionError(f"routes without a warm case: {sorted(missing)}")
    return found


def bare_handler(answer: dict[str, Any]) -> Handler:
    """The baseline for one route: the same status and JSON body, from a bare app."""
    from bench.bare import create_app, lambda_handler

    body = answer.get("body") or ""
    return lambda_handler(create_app(body, int(answer["statusCode"]), with_client=False))  # type: ignore[no-any-return]


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Logs and metrics go to stdout, as on Lambda; here to /dev/null while timing."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def measure(case: "Case", calls: int) -> dict[str, Any]:
    context = Context()
    first = case.handler(next(case.events), context)
    status = int(first["statusCode"])
    if status >= 400:
        raise AssertionError(f"{case.route}: the warm-up call answered {status}: {first}")
    bare = bare_handler(first)
    baseline_event = next(case.events)
    for _ in range(WARMUP):
        case.handler(next(case.events), context)
        bare(baseline_event, context)
    real: list[float] = []
    base: list[float] = []
    clock = time.perf_counter
    for _ in range(calls):
        event = next(case.events)
        started = clock()
        answer = case.handler(event, context)
        real.append(clock() - started)
        started = clock()
        bare(event, context)
        base.append(clock() - started)
        if int(answer["statusCode"]) != status:
            raise AssertionError(f"{case.route}: answered {answer['statusCode']}, not {status}")
    return {
        "route": case.route,
        "function": case.function,
        "status": status,
        "p50": percentile(real, 0.50),
        "p99": percentile(real, 0.99),
        "base_p50": percentile(base, 0.50),
        "base_p99": percentile(base, 0.99),
    }


def run_mode(calls: int, only: list[str], raw: Path) -> None:
    """In this process, as configured by the environment: every case, written to `raw`."""
    from services.common.observability import tracer

    with quiet_stdout():
        chosen = [case for case in cases(calls) if not only or case.route in only]
        results = [{**measure(case, calls), "traced": not tracer.disabled} for case in chosen]
    raw.write_text(json.dumps(results))


def spawn(mode: str, calls: int, only: list[str], raw: Path) -> list[dict[str, Any]]:
    environment = {**os.environ, **COMMON_ENVIRONMENT}
    for name in LAMBDA_ENVIRONMENT:
        environment.pop(name, None)
    if mode == "traced":
        environment.update(LAMBDA_ENVIRONMENT)
    arguments_ = [sys.executable, "-m", "bench.warm", "--mode", mode, "--raw", str(raw)]
    arguments_ += ["--calls", str(calls), *(f"--only={route}" for route in only)]
    subprocess.run(arguments_, cwd=ROOT, env=environment, check=True)
    results: list[dict[str, Any]] = json.loads(raw.read_text())
    return results


def section(traced: list[dict[str, Any]], untraced: list[dict[str, Any]], calls: int) -> Section:
    result = Section(
        name="warm",
        title="2. Warm overhead per request",
        intro=(
            "Every route through the real Lambda entry with in-memory adapters "
            "(tests/unit/fakes.py), X-Ray tracing active as deployed, against a bare Flask app "
            "behind serverless-wsgi answering the same event with the same status and JSON "
            f"(bench/bare.py). {calls} calls each, alternating with the baseline's; the last "
            "column is the p50 ratio of a run with tracing off."
        ),
        columns=[
            "Route",
            "p50",
            "p99",
            "Baseline p50",
            "Baseline p99",
            "p50 ratio",
            "p99 ratio",
            "p50 ratio, tracing off",
        ],
    )
    off = {row["route"]: row for row in untraced}
    if not all(row["traced"] for row in traced):
        result.notes.append("Tracing could not be turned on: the traced figures are untraced.")
    for row in traced:
        p50 = ratio(row["p50"], row["base_p50"])
        p99 = ratio(row["p99"], row["base_p99"])
        plain = off.get(row["route"])
        plain_ratio = ratio(plain["p50"], plain["base_p50"]) if plain else None
        result.add(
            Figure(
                key=f"warm/{row['route']}",
                cells=[
                    f"`{row['route']}` ({row['status']})",
                    us(row["p50"]),
                    us(row["p99"]),
                    us(row["base_p50"]),
                    us(row["base_p99"]),
                    times(p50),
                    times(p99),
                    times(plain_ratio) if plain_ratio is not None else "—",
                ],
                value=p50,
                goal=f"p50 ≤ {GOAL_P50}x",
                met=p50 <= GOAL_P50,
                command=command("warm", f"--only='{row['route']}'"),
            )
        )
    return result


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--mode", choices=("traced", "untraced"), help=argparse.SUPPRESS)
    parser.add_argument("--raw", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.mode is not None:
        run_mode(options.calls, options.only, options.raw)
        return
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as scratch:
        traced = spawn("traced", options.calls, options.only, Path(scratch) / "traced.json")
        untraced = spawn("untraced", options.calls, options.only, Path(scratch) / "plain.json")
    built = section(traced, untraced, options.calls)
    finish(
        built,
        before_of("warm", options, "--calls", str(options.calls)),
        options.out,
        lambda figure: f"{figure.cells[0]:45s} {figure.cells[1]:>8s} {figure.cells[5]:>7s} "
                       f"{figure.cells[6]:>7s}  {verdict(figure.met)}",
    )  # fmt: skip


if __name__ == "__main__":
    main()
