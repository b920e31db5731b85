"""The fake AWS endpoint: moto in server mode, in this process, with its state kept on disk.

moto keeps everything in memory. So that data survives a restart, the state of the services we
use is pickled to the state folder on a clean stop and loaded before the server starts again.
A snapshot written by another moto version is set aside rather than trusted.
"""

import io
import logging
import pickle
import threading
from pathlib import Path
from typing import Any

import moto
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.backends import get_backend
from moto.server import ThreadedMotoServer

logger = logging.getLogger("local.aws")

_LOCKS = ((type(threading.Lock()), threading.Lock), (type(threading.RLock()), threading.RLock))
SERVICES = ("dynamodb", "cognito-idp", "sqs", "secretsmanager")


def _load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


class _StatePickler(pickle.Pickler):
    """Pickles moto's state; signing keys travel as PEM, locks are made anew."""

    def reducer_override(self, obj: Any) -> Any:
        for kind, factory in _LOCKS:  # SQS queues hold locks: a restored queue gets new ones
            if isinstance(obj, kind):
                return factory, ()
        if isinstance(obj, rsa.RSAPrivateKey):
            pem = obj.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            return _load_private_key, (pem,)
        return NotImplemented


class FakeAws:
    def __init__(self, host: str, port: int, snapshot: Path) -> None:
        self.host = host
        self.port = port
        self.snapshot = snapshot
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)

    def address(self) -> tuple[str, int]:
        """Host and port the server listens on (the port is chosen by the system when 0)."""
        return self._server.get_host_and_port()

    def start(self) -> bool:
        """Start serving; True when the previous state was restored."""
        restored = self._restore()
        self._server.start()
        return restored

    def stop(self) -> None:
        self.save()
        self._server.stop()

    def save(self) -> None:
        buffer = io.BytesIO()
        state = {name: dict(get_backend(name)) for name in SERVICES}  # type: ignore[call-overload]
        _StatePickler(buffer).dump({"moto": moto.__version__, "state": state})
        self.snapshot.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.snapshot.with_suffix(".tmp")
        temporary.write_bytes(buffer.getvalue())
        temporary.replace(self.snapshot)

    def _restore(self) -> bool:
        if not self.snapshot.exists():
            return False
        try:
            # Our own file, written by this program into a git-ignored folder.
            saved = pickle.loads(self.snapshot.read_bytes())  # noqa: S301
            if saved.get("moto") != moto.__version__:
                raise ValueError(f"written by moto {saved.get('moto')}, not {moto.__version__}")
        except Exception as exc:
            aside = self.snapshot.with_suffix(".unreadable")
            self.snapshot.replace(aside)
            logger.warning("starting clean: could not restore %s (%s)", self.snapshot, exc)
            return False
        for name, accounts in saved["state"].items():
            backend = get_backend(name)
            for account, regions in accounts.items():
                backend[account] = regions
        return True
