"""Cold start of every function in a fresh interpreter, against a bare Flask app in the same run.

Each repetition spawns `python -c` with the environment Lambda gives a deployed function (X-Ray
tracing active, as the stack configures it; AWS_ENDPOINT_URL on a closed local port, so nothing
can reach AWS) and times, inside that interpreter:

1. the import of the function's Lambda entry module;
2. the build its first event would make (the app or adapters and their boto3 clients): the builds
   an entry registers for SnapStart (`snapshot_restore_py.register_before_snapshot`, stubbed
   here to record them), or, for an entry that registers none, the factory it calls;
3. its answer to a first event that needs no I/O (a 401, 404 or 422, a refused queue message),
   so that work an entry defers to its first request is counted too.

The baseline (bench/bare.py) does the same: import Flask, serverless-wsgi and boto3, build an app
and one client, answer one request. Runs are interleaved (a baseline, then every function, per
round) and each figure is the median over the rounds, divided by the baseline's median.
"""

import collections
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.figures import (
    ROOT,
    Figure,
    Section,
    arguments,
    before_tree,
    command,
    median,
    ms,
    save_with_before,
    times,
    verdict,
)
from services.routes import FUNCTIONS

GOAL = 1.25
ROUNDS = 9
TRACE_ID = "Root=1-67a0c3f1-6b1d0f3e2a7c4b5d6e7f8091;Parent=53995c3f42cd8ad8;Sampled=1"
CLOSED_PORT_ENDPOINT = "http://127.0.0.1:9"  # the discard port: nothing listens on it here

# What every deployed function's environment holds (infra/functions.py, __main__.py); values that
# would name real resources are fakes, and no code path measured here sends a request.
FUNCTION_ENVIRONMENT = {
    "PRODUCTS_TABLE": "products",
    "USER_POOL_CLIENT_ID": "bench-client-id",
    "ORDERS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:fulfilment",
    "DATABASE_HOST": "127.0.0.1",
    "DATABASE_PORT": "9",
    "DATABASE_NAME": "ecommerce",
    "DATABASE_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db",
    "POWERTOOLS_METRICS_NAMESPACE": "ecommerce/bench",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}

# The factory each entry calls on its first event, for entries that register no build of their
# own (commits before the SnapStart hooks): the before/after comparison measures the same work.
FALLBACK_BUILDS = {
    "products": "services.products.app:create_app",
    "users": "services.users.app:create_app",
    "orders": "services.orders.app:create_app",
    "relay": "services.orders.wiring:ports_from",
    "order-worker": "services.orders.worker:starter_from",
    **dict.fromkeys(
        (
            "reserve-stock",
            "take-payment",
            "confirm-order",
            "cancel-order",
            "release-stock",
            "refund-payment",
        ),
        "services.orders.wiring:steps_from",
    ),
}
# HTTP entries build on their first event, so their fallback is that event itself.
HTTP_FUNCTIONS = frozenset({"products", "users", "orders"})

CHILD = r"""
import json, sys, time, types
spec = json.loads(sys.argv[1])
hooks = []
stub = types.ModuleType("snapshot_restore_py")
def register_before_snapshot(hook, *args, **kwargs):
    hooks.append((hook, args, kwargs))
    return hook
stub.register_before_snapshot = register_before_snapshot
stub.register_after_restore = lambda hook, *args, **kwargs: hook
sys.modules["snapshot_restore_py"] = stub

class Context:
    function_name = spec["function"]
    aws_request_id = "6f1d3c2a-0b9e-4c8d-a7f6-5e4d3c2b1a09"
    memory_limit_in_mb = 512
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + spec["function"]
    log_group_name = "/aws/lambda/" + spec["function"]
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 10_000

started, cpu_started = time.perf_counter(), time.process_time()
import importlib
module = importlib.import_module(spec["module"])
imported = time.perf_counter()
for hook, args, kwargs in hooks:
    hook(*args, **kwargs)
if not hooks and spec["build"]:
    factory_module, _, factory = spec["build"].partition(":")
    getattr(importlib.import_module(factory_module), factory)()
built = time.perf_counter()
answer = None
if spec["event"] is not None:
    try:
        result = getattr(module, spec["attribute"])(spec["event"], Context())
        answer = result.get("statusCode", result) if isinstance(result, dict) else repr(result)
    except Exception as exc:
        answer = type(exc).__name__
answered, cpu_answered = time.perf_counter(), time.process_time()
print("BENCH " + json.dumps({
    "import": imported - started,
    "build": built - imported,
    "answer": answered - built,
    "total": answered - started,
    "cpu": cpu_answered - cpu_started,
    "hooks": len(hooks),
    "answered": answer,
    "modules": len(sys.modules),
}, default=str))
"""


@dataclass(frozen=True)
class Target:
    name: str
    module: str
    attribute: str
    event: dict[str, Any] | None  # a first event that needs no I/O; None: the entry has none
    expected: str  # what that event is answered with, shown in the table
    build: str | None = None
    service: str = "bench"


@dataclass
class Timings:
    runs: list[dict[str, Any]] = field(default_factory=list)

    def median_of(self, phase: str) -> float:
        return median([run[phase] for run in self.runs])

    def ratio_to(self, baseline: "Timings") -> float:
        """The median over rounds of this run's CPU time over the baseline's of the same round."""
        pairs = zip(self.runs, baseline.runs, strict=True)
        return median([run["cpu"] / base["cpu"] for run, base in pairs])


def targets() -> list[Target]:
    """The baseline first, then every function of the route table."""
    from tests.integration.conftest import CUSTOMER_CLAIMS, build_event, load_event

    # Each API's first event reads and refuses a request model, as most first requests read one
    # (models build their validators on first use, and the first one built pays pydantic's own
    # setup), yet needs no I/O.
    first_events: dict[str, tuple[dict[str, Any] | None, str]] = {
        "products": (build_event("GET", "/products", query={"limit": "0"}), "422"),
        "users": (build_event("POST", "/users/login", body={}), "422"),
        "orders": (
            build_event("GET", "/orders", query={"limit": "0"}, claims=CUSTOMER_CLAIMS),
            "422",
        ),
        "order-worker": (_unreadable_message(load_event("sqs_order_placed.json")), "1 refused"),
        "relay": (None, "no event: it needs the database"),
        "migrate": (None, "no event: it needs the database"),
    }
    step_event = ({"orderId": "not-an-order"}, "ValueError")
    found = [
        Target(
            "baseline",
            "bench.bare",
            "handler",
            build_event("GET", "/products/not-a-product"),
            "200",
        )
    ]
    for name, function in FUNCTIONS.items():
        module, _, attribute = function.handler.rpartition(".")
        event, expected = first_events.get(name, step_event)
        build = None if name in HTTP_FUNCTIONS else FALLBACK_BUILDS.get(name)
        found.append(Target(name, module, attribute, event, expected, build, function.service))
    return found


def _unreadable_message(event: dict[str, Any]) -> dict[str, Any]:
    """A queue event whose one message is not an order message: refused without any I/O."""
    record = {**event["Records"][0], "body": "not an order message"}
    return {"Records": [record]}


def environment(target: Target, extra: Mapping[str, str] = {}) -> dict[str, str]:
    """What Lambda gives a deployed function, with fake credentials and no route to AWS."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(ROOT)),
        "LANG": "C.UTF-8",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_ENDPOINT_URL": CLOSED_PORT_ENDPOINT,
        "AWS_LAMBDA_FUNCTION_NAME": target.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "_HANDLER": f"{target.module}.{target.attribute}",
        "_X_AMZN_TRACE_ID": TRACE_ID,
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "POWERTOOLS_SERVICE_NAME": target.service,
        **FUNCTION_ENVIRONMENT,
        **extra,
    }


def run_once(
    target: Target,
    root: Path,
    extra: Mapping[str, str] = {},
    interpreter: Sequence[str] = (sys.executable,),
) -> dict[str, Any]:
    """One cold start of `target` in a fresh `interpreter` started in `root`: its timings."""
    spec = {
        "function": target.name,
        "module": target.module,
        "attribute": target.attribute,
        "event": target.event,
        "build": target.build,
    }
    completed = subprocess.run(
        [*interpreter, "-c", CHILD, json.dumps(spec)],
        cwd=root,
        env=environment(target, extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("BENCH ")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"{target.name}: the child failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("BENCH "))
    return result


def measure(
    chosen: list[Target], rounds: int, roots: Mapping[str, Path], extra: Mapping[str, str] = {}
) -> dict[str, dict[str, Timings]]:
    """Interleaved: every round runs the baseline, then each function in every tree once."""
    timings = {
        tree: {target.name: Timings() for target in chosen if target.name != "baseline"}
        for tree in roots
    }
    baseline = Timings()
    first_root = next(iter(roots.values()))
    for _ in range(rounds):
        baseline.runs.append(run_once(chosen[0], first_root, extra))
        for target in chosen[1:]:
            for tree, root in roots.items():
                timings[tree][target.name].runs.append(run_once(target, root, extra))
    for found in timings.values():
        found["baseline"] = baseline
    return timings


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)")


def import_self_times(target: Target, root: Path, repeats: int = 3) -> dict[str, float]:
    """Seconds each module's own import took (python -X importtime), median of `repeats`."""
    found: dict[str, list[float]] = collections.defaultdict(list)
    code = f"import {target.module}"
    for _ in range(repeats):
        completed = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            cwd=root,
            env=environment(target),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        for match in _IMPORT_LINE.finditer(completed.stderr):
            found[match.group(2)].append(int(match.group(1)) / 1_000_000)
    return {module: median(values) for module, values in found.items()}


def beyond_baseline(
    target: dict[str, float], baseline: dict[str, float], top: int = 6
) -> list[tuple[str, float]]:
    """The distributions a function imports that the baseline does not, by import time."""
    packages: dict[str, float] = collections.defaultdict(float)
    for module, seconds in target.items():
        if module not in baseline:
            packages[module.split(".")[0]] += seconds
    return sorted(packages.items(), key=lambda item: -item[1])[:top]


COLUMNS = [
    "Function",
    "Import",
    "Build",
    "First answer",
    "Total (wall)",
    "Total (CPU)",
    "Baseline (CPU)",
    "Ratio",
    "First event",
]


def rows(timings: dict[str, Timings], chosen: list[Target], label: str = "") -> list[Figure]:
    base = timings["baseline"]
    figures = []
    for target in chosen[1:]:
        runs = timings[target.name]
        value = runs.ratio_to(base)
        answered = {str(run["answered"]) for run in runs.runs}
        option = ["--no-bytecode"] if label else []
        figures.append(
            Figure(
                key=f"cold_start/{label}{target.name}",
                cells=[
                    f"{target.name}{', no bytecode' if label else ''}",
                    ms(runs.median_of("import")),
                    ms(runs.median_of("build")),
                    ms(runs.median_of("answer")),
                    ms(runs.median_of("total")),
                    ms(runs.median_of("cpu")),
                    ms(base.median_of("cpu")),
                    times(value),
                    f"{target.expected} (got {', '.join(sorted(answered))})",
                ],
                value=value,
                goal=f"≤ {GOAL}x" if not label else "—",
                met=value <= GOAL if not label else None,
                command=command("cold_start", *option, "--only", target.name),
            )
        )
    return figures


def section(
    timings: dict[str, Timings],
    chosen: list[Target],
    no_bytecode: dict[str, Timings],
    imports: dict[str, list[tuple[str, float]]],
) -> Section:
    result = Section(
        name="cold_start",
        title="1. Cold start",
        intro=(
            "A fresh interpreter per run, with the environment Lambda gives a deployed function "
            "(X-Ray tracing active): import of the entry, the build of its app or adapters and "
            "their clients (what SnapStart would snapshot), and its answer to a first event that "
            "needs no I/O. The baseline (bench/bare.py) imports Flask, serverless-wsgi and boto3, "
            "builds a bare app and one client and answers one request. "
            f"{len(timings['baseline'].runs)} rounds, each running the baseline and then every "
            "function; the ratio is the median over rounds of the function's CPU time over the "
            "baseline's in the same round (CPU time, not wall time, because other work shares "
            "the machine; the wall times are shown too)."
        ),
        columns=COLUMNS,
    )
    for figure in rows(timings, chosen):
        result.add(figure)
    if no_bytecode:
        from_source = [t for t in chosen if t.name in no_bytecode]
        for figure in rows(no_bytecode, from_source, "no-bytecode/"):
            result.add(figure)
        nb_base = no_bytecode["baseline"]
        result.notes.append(
            "No bytecode: what a cold start on Lambda costs when the archives carry sources "
            "alone (deployed without a Python of the runtime's version; /opt and /var/task are "
            "read-only, so each module imported is compiled at every cold start). The rows marked "
            "so run the function and the baseline that way (PYTHONPYCACHEPREFIX on an empty "
            "directory, PYTHONDONTWRITEBYTECODE=1); section 1b measures the deployed archives "
            "themselves. The baseline takes "
            f"{ms(nb_base.median_of('cpu'))} of CPU against "
            f"{ms(timings['baseline'].median_of('cpu'))} with bytecode."
        )
    for name, packages in imports.items():
        listed = ", ".join(f"{package} {ms(seconds)}" for package, seconds in packages)
        result.notes.append(f"`{name}` imports beyond the baseline's (-X importtime): {listed}.")
    return result


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure")
    parser.add_argument(
        "--no-bytecode", action="store_true", help="only the runs compiled from source"
    )
    parser.add_argument(
        "--bytecode-functions",
        default="products,users,orders",
        help="the functions also run without bytecode",
    )
    options = parser.parse_args()
    wanted = set(options.only)
    chosen = [t for t in targets() if t.name == "baseline" or not wanted or t.name in wanted]
    roots = {"now": options.root}
    if options.before:
        roots["before"] = before_tree(options.before)
    timings: dict[str, dict[str, Timings]] = {}
    no_bytecode: dict[str, Timings] = {}
    with tempfile.TemporaryDirectory(prefix="bench-nopyc-") as empty:
        uncompiled = {"PYTHONPYCACHEPREFIX": empty, "PYTHONDONTWRITEBYTECODE": "1"}
        if not options.no_bytecode:
            timings = measure(chosen, options.rounds, roots)
        from_source = set(options.bytecode_functions.split(",")) if not wanted else set()
        if options.no_bytecode:
            from_source = {t.name for t in chosen}
        compiled = [t for t in chosen if t.name == "baseline" or t.name in from_source]
        if len(compiled) > 1:
            rounds = max(3, options.rounds // 2)
            no_bytecode = measure(compiled, rounds, {"now": options.root}, uncompiled)["now"]
    if not timings:
        timings, no_bytecode = {"now": no_bytecode}, {}
    imports: dict[str, list[tuple[str, float]]] = {}
    if not wanted and not options.no_bytecode:
        baseline_imports = import_self_times(chosen[0], options.root)
        for target in chosen[1:]:
            if target.name in HTTP_FUNCTIONS or target.name in ("order-worker", "relay"):
                found = import_self_times(target, options.root)
                imports[target.name] = beyond_baseline(found, baseline_imports)
    built = section(timings["now"], chosen, no_bytecode, imports)
    before = None
    if "before" in timings:
        before = section(timings["before"], chosen, {}, {})
        before.revision = options.before
    path = save_with_before(built, before, options.out)
    for figure in built.figures:
        print(f"{figure.cells[0]:28s} {figure.cells[5]:>10s} {figure.cells[7]:>7s}  "
              f"{verdict(figure.met)}")  # fmt: skip
    if before is not None:
        for figure in before.figures:
            print(f"before: {figure.cells[0]:20s} {figure.cells[5]:>10s} {figure.cells[7]:>7s}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
