"""The local pipeline under concurrent clients: orders from `POST /orders` to CONFIRMED, and
`GET /products/{id}` through the local gateway.

Starts the real local stack (`python -m local`, on free ports, in a temporary state directory, as
tests/e2e does). Fulfilment there is the real path: the API's handler, the outbox, moto's SQS
polled by the worker, moto's Step Functions interpreter running the step handlers.

- Orders: CLIENTS threads each place orders one after another and poll `GET /orders/{id}` every
  POLL_SECONDS until CONFIRMED. Figures: confirmed orders per second over the whole run, and the
  p50 and p95 of each order's time from its POST to the poll that saw CONFIRMED. Baseline, in the
  same run: the p50 of a `GET /orders/{id}` round trip through the gateway, so the ratio says
  how many plain API round trips an order's fulfilment takes.
- Reads: CLIENTS threads send `GET /products/{id}` for READ_SECONDS; baseline: a bare threaded
  werkzeug server answering the same JSON, driven the same way right after. Ratio: the stack's
  requests per second over the bare server's.
"""

import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.figures import (
    Figure,
    Section,
    arguments,
    before_of,
    command,
    finish,
    ms,
    percentile,
    times,
    verdict,
)

CLIENTS = 4
ORDERS_PER_CLIENT = 6
POLL_SECONDS = 0.05
CONFIRM_TIMEOUT = 120.0
READ_SECONDS = 8.0
UNLOADED_ORDERS = 4


@dataclass
class Load:
    """Requests per second and latencies of a fixed-duration closed-loop load."""

    requests: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def drive(request: Callable[[requests.Session], int], clients: int, seconds: float) -> Load:
    """`clients` threads, each sending `request` back to back for `seconds`."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    deadline: list[float] = []

    def client(number: int) -> None:
        with requests.Session() as session:
            start.wait()
            while time.perf_counter() < deadline[0]:
                began = time.perf_counter()
                status = request(session)
                latencies[number].append(time.perf_counter() - began)
                if status >= 400:
                    errors[number] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    deadline.append(time.perf_counter() + seconds)
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    flat = [latency for per_client in latencies for latency in per_client]
    return Load(len(flat), elapsed, flat, sum(errors))


@contextmanager
def bare_server(body: bytes) -> Iterator[str]:
    """A bare threaded werkzeug server answering `body` as JSON to every request."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass  # a bare server: no access log

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@dataclass
class Pipeline:
    confirmed: int
    failed: list[str]
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.confirmed / self.seconds


def run_orders(api: str, token: str, product_ids: list[str], clients: int, each: int) -> Pipeline:
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    failed: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(number: int) -> None:
        with requests.Session() as session:
            session.headers.update(headers)
            start.wait()
            for n in range(each):
                product = product_ids[(number + n) % len(product_ids)]
                began = time.perf_counter()
                body = {"items": [{"productId": product, "quantity": 1}]}
                placed = session.post(f"{api}/orders", json=body, timeout=30)
                if placed.status_code != 202:
                    with lock:
                        failed.append(f"POST {placed.status_code}")
                    continue
                order = placed.json()["id"]
                status = _until_settled(session, f"{api}/orders/{order}")
                with lock:
                    if status == "CONFIRMED":
                        latencies.append(time.perf_counter() - began)
                    else:
                        failed.append(status)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    return Pipeline(len(latencies), failed, time.perf_counter() - began, latencies)


def _until_settled(session: requests.Session, url: str) -> str:
    deadline = time.perf_counter() + CONFIRM_TIMEOUT
    while time.perf_counter() < deadline:
        status = str(session.get(url, timeout=30).json()["status"])
        if status != "PENDING":
            return status
        time.sleep(POLL_SECONDS)
    return "still PENDING"


def start_stack(state: Path) -> Any:
    """`python -m local` on free ports, as tests/e2e starts it, but with its output in a file:
    under load it logs more than a pipe nobody reads can hold, and would stop."""
    import json
    import os
    import subprocess
    import sys

    from bench.figures import ROOT
    from tests.e2e.conftest import RunningStack, free_port

    stack_file = state / "stack.json"
    arguments_ = ["--state-dir", str(state), "--port", str(free_port())]
    arguments_ += ["--aws-port", str(free_port())]
    with (state / "output.log").open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "local", *arguments_],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((state / "output.log").read_text()[-3000:])
        if stack_file.exists():
            info = json.loads(stack_file.read_text())
            try:
                requests.get(f"{info['apiUrl']}/products?limit=1", timeout=5).raise_for_status()
                return RunningStack(process, state, info)
            except (requests.RequestException, ValueError):
                pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the local stack did not start within 120 s")


def measure(clients: int, each: int, read_seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as state:
        stack = start_stack(Path(state))
        try:
            api = stack.api
            admin = stack.info["admin"]
            token = stack.login(admin["email"], admin["password"])
            auth = {"Authorization": f"Bearer {token}"}
            listed = requests.get(f"{api}/products?limit=4", timeout=30).json()["items"]
            product_ids = [str(item["id"]) for item in listed]
            for product_id in product_ids:  # enough stock that every order is confirmed
                reply = requests.patch(
                    f"{api}/products/{product_id}",
                    json={"stock": 100_000},
                    headers=auth,
                    timeout=30,
                )
                reply.raise_for_status()
            # One client alone first: every container warm, and an order's time unloaded.
            alone = run_orders(api, token, product_ids, 1, UNLOADED_ORDERS)
            pipeline = run_orders(api, token, product_ids, clients, each)
            order_url = f"{api}/orders/{_an_order(api, auth)}"
            reads = drive(
                lambda session: session.get(order_url, headers=auth, timeout=30).status_code,
                clients,
                read_seconds / 2,
            )
            product_url = f"{api}/products/{product_ids[0]}"
            body = requests.get(product_url, timeout=30).content
            gets = drive(
                lambda s: s.get(product_url, timeout=30).status_code, clients, read_seconds
            )
        finally:
            stack.stop()
    with bare_server(body) as bare:
        bare_url = f"{bare}/products/{product_ids[0]}"
        bare_gets = drive(lambda s: s.get(bare_url, timeout=30).status_code, clients, read_seconds)
    return {
        "alone": alone,
        "pipeline": pipeline,
        "order_reads": reads,
        "product_reads": gets,
        "bare_reads": bare_gets,
    }


def _an_order(api: str, auth: dict[str, str]) -> str:
    return str(
        requests.get(f"{api}/orders?limit=1", headers=auth, timeout=30).json()["items"][0]["id"]
    )


def section(found: dict[str, Any], clients: int) -> Section:
    pipeline: Pipeline = found["pipeline"]
    order_reads: Load = found["order_reads"]
    gets: Load = found["product_reads"]
    bare: Load = found["bare_reads"]
    result = Section(
        name="pipeline",
        title="5. The local pipeline",
        intro=(
            f"The local stack (`python -m local`) under {clients} concurrent clients. Orders: "
            f"placed one after another by each client and polled every {POLL_SECONDS * 1000:.0f} "
            "ms until CONFIRMED, through the gateway, the API's handler, the outbox, moto's SQS "
            "and the worker, and moto's Step Functions running the step handlers."
        ),
        columns=["Figure", "Measured", "Baseline (same run)", "Ratio"],
    )
    read_p50 = percentile(order_reads.latencies, 0.5)
    p50 = percentile(pipeline.latencies, 0.5) if pipeline.latencies else float("nan")
    p95 = percentile(pipeline.latencies, 0.95) if pipeline.latencies else float("nan")
    rows: list[tuple[str, str, str, str, float | None]] = [
        (
            "pipeline/orders-per-second",
            f"orders confirmed per second ({pipeline.confirmed} confirmed, "
            f"{len(pipeline.failed)} not)",
            f"{pipeline.per_second:.2f}/s",
            f"GET /orders/{{id}}: {order_reads.per_second:.0f}/s",
            None,
        ),
        (
            "pipeline/p50",
            "POST /orders to CONFIRMED, p50",
            ms(p50),
            f"GET /orders/{{id}} p50 {ms(read_p50)}",
            p50 / read_p50,
        ),
        (
            "pipeline/p50-one-client",
            "POST /orders to CONFIRMED, p50 with one client alone",
            ms(percentile(found["alone"].latencies, 0.5)),
            f"GET /orders/{{id}} p50 {ms(read_p50)}",
            percentile(found["alone"].latencies, 0.5) / read_p50,
        ),
        (
            "pipeline/p95",
            "POST /orders to CONFIRMED, p95",
            ms(p95),
            f"GET /orders/{{id}} p95 {ms(percentile(order_reads.latencies, 0.95))}",
            p95 / percentile(order_reads.latencies, 0.95),
        ),
        (
            "pipeline/products-rps",
            "GET /products/{id} through the gateway, requests per second",
            f"{gets.per_second:.0f}/s (p50 {ms(percentile(gets.latencies, 0.5))})",
            f"bare werkzeug server: {bare.per_second:.0f}/s (p50 "
            f"{ms(percentile(bare.latencies, 0.5))})",
            gets.per_second / bare.per_second,
        ),
    ]
    for key, name, measured, baseline, value in rows:
        cells = [name, measured, baseline, times(value) if value is not None else "—"]
        figure = Figure(key, cells, value, "report", None, command("pipeline"))
        result.add(figure)
    result.notes.append(
        "No goal is set for the local stack; its figures show where a local order's time goes. "
        f"{order_reads.errors + gets.errors} of the read requests failed; orders not confirmed: "
        f"{', '.join(pipeline.failed) or 'none'}. Median order latency: "
        f"{ms(statistics.median(pipeline.latencies)) if pipeline.latencies else '—'}."
    )
    return result


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--orders-per-client", type=int, default=ORDERS_PER_CLIENT)
    parser.add_argument("--read-seconds", type=float, default=READ_SECONDS)
    options = parser.parse_args()
    found = measure(options.clients, options.orders_per_client, options.read_seconds)
    built = section(found, options.clients)
    finish(
        built,
        before_of("pipeline", options),
        options.out,
        lambda figure: f"{figure.cells[0]:62s} {figure.cells[1]:>22s} {figure.cells[3]:>7s}  "
                       f"{verdict(figure.met)}",
    )  # fmt: skip


if __name__ == "__main__":
    main()
