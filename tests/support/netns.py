"""A network namespace for a test: made with iproute2, entered by the calling thread (so
the sockets asyncio opens there afterwards live in it), removed at the end. Root only."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

CLONE_NEWNET = 0x40000000


def why_not() -> str | None:
    """Why namespaces cannot be made here (None: they can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not shutil.which("ip"):
        return "needs iproute2 (ip)"
    return None


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Netns:
    """``ip netns add`` a namespace with loopback up and, for programs that never gather
    ICE candidates on a loopback interface (Janus), 127.0.0.2 on a veth of its own."""

    def __init__(self, prefix: str = "rfbt") -> None:
        self.name = f"{prefix}{uuid.uuid4().hex[:6]}"
        sh("ip", "netns", "add", self.name)
        try:
            self.run("ip", "link", "set", "lo", "up")
            self.run("ip", "link", "add", "va", "type", "veth", "peer", "name", "vb")
            self.run("ip", "addr", "add", "127.0.0.2/32", "dev", "va")
            self.run("ip", "link", "set", "va", "up")
            self.run("ip", "link", "set", "vb", "up")
        except BaseException:
            self.remove()
            raise

    @property
    def path(self) -> Path:
        return Path("/run/netns") / self.name

    def command(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *cmd]

    def run(self, *cmd: str) -> None:
        sh(*self.command(*cmd))

    def popen(self, *cmd: str, **kw: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command(*cmd), **kw)  # type: ignore[call-overload, no-any-return]

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """This thread in the namespace (setns(2)); back where it was afterwards."""
        libc = ctypes.CDLL(None, use_errno=True)
        here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        there = os.open(self.path, os.O_RDONLY)
        try:
            if libc.setns(there, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into " + self.name)
            try:
                yield
            finally:
                if libc.setns(here, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(here)
            os.close(there)

    def wrapper(self, program: str, directory: Path) -> Path:
        """An executable that runs ``program`` in the namespace (for launchers that take a
        path, such as Playwright's executable_path)."""
        script = directory / f"{Path(program).name}-in-{self.name}"
        script.write_text(f'#!/bin/sh\nexec ip netns exec {self.name} {program} "$@"\n')
        script.chmod(0o755)
        return script

    def remove(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
