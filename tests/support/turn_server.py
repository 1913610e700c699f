"""A real coturn (Debian's /usr/bin/turnserver) on 127.0.0.1, for the TURN relay tests.

It runs with the repository's own ``docker/turnserver.conf`` (what the demo's compose file
deploys) plus command-line overrides that keep it on loopback, on free ports, with its
state in a temporary directory and its log in a file the tests read.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "docker" / "turnserver.conf"
TURNSERVER = os.environ.get("RFB_TURNSERVER", "/usr/bin/turnserver")
REALM = "rfb"  # docker/turnserver.conf's realm

_BINDING_REQUEST = 0x0001
_BINDING_SUCCESS = 0x0101
_MAGIC_COOKIE = 0x2112A442


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def relay_range(width: int = 200) -> tuple[int, int]:
    """A relay port range below Linux's ephemeral range (32768-60999), where no other
    process here is likely to hold a port; coturn skips busy ones anyway."""
    base = random.randrange(20000, 32000 - width, width)
    return base, base + width - 1


def stun_binding_answers(port: int, timeout: float = 0.2) -> bool:
    """True when a STUN Binding request to 127.0.0.1:port gets a success response."""
    txid = os.urandom(12)
    request = (
        _BINDING_REQUEST.to_bytes(2, "big")
        + (0).to_bytes(2, "big")
        + _MAGIC_COOKIE.to_bytes(4, "big")
        + txid
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(request, ("127.0.0.1", port))
            data, _ = s.recvfrom(2048)
        except OSError:  # timeout, or ICMP port unreachable (not listening yet)
            return False
    return (
        len(data) >= 20
        and int.from_bytes(data[0:2], "big") == _BINDING_SUCCESS
        and data[8:20] == txid
    )


class TurnServer:
    """coturn with ``use-auth-secret``: credentials are minted from ``secret``."""

    def __init__(self, workdir: Path, secret: str) -> None:
        self.workdir = workdir
        self.secret = secret
        self.port = free_port()
        self.min_port, self.max_port = relay_range()
        self.log_path = workdir / "turnserver.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def command(self) -> list[str]:
        return [
            TURNSERVER,
            "-c", str(CONF),  # fingerprint, use-auth-secret, realm, no-tls/dtls/cli, ...
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={self.port}",
            f"--min-port={self.min_port}",
            f"--max-port={self.max_port}",
            "--use-auth-secret",
            f"--static-auth-secret={self.secret}",
            f"--realm={REALM}",
            # Peers on 127.0.0.0/8 (rfb's host candidates here): without it coturn answers
            # CreatePermission with 403 Forbidden IP.
            "--allow-loopback-peers",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--no-auth-pings",
            # Session lines (new, ALLOCATE/CREATE_PERMISSION/CHANNEL_BIND ... processed,
            # the byte counts at close) are logged only when verbose.
            "--verbose",
            f"--pidfile={self.workdir / 'turnserver.pid'}",
            f"--db={self.workdir / 'turndb'}",
        ]  # fmt: skip

    def start(self, timeout: float = 10.0) -> None:
        if not os.access(TURNSERVER, os.X_OK) and not shutil.which(TURNSERVER):
            raise FileNotFoundError(
                f"{TURNSERVER} is missing: run `bash scripts/test` (it installs Debian's "
                "coturn with `apt-get install coturn`)"
            )
        # docker/turnserver.conf says log-file=stdout (compose shows it as the container's
        # log); a --log-file override does not win over it, so stdout goes to the file.
        log = open(self.log_path, "wb")  # noqa: SIM115 (the child keeps writing to it)
        try:
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while not stun_binding_answers(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"turnserver exited ({self.proc.returncode}):\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"turnserver did not answer on {self.port}:\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def sessions_of(self, user: str) -> list[str]:
        """coturn's log lines for sessions whose TURN REST username ends with ``:user``."""
        pattern = re.compile(rf"user <\d+:{re.escape(user)}>|username=<\d+:{re.escape(user)}>")
        return [line for line in self.log().splitlines() if pattern.search(line)]
