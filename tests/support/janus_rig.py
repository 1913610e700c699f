"""Janus for tests and benchmarks: the repo's docker/janus configuration, run in a
network namespace (tests/support/netns.py) where ICE gathers on 127.0.0.2."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
from pathlib import Path

import aiohttp

from support import netns

REPO = Path(__file__).resolve().parents[2]
JANUS_HTTP = "http://127.0.0.1:8088/janus"


def why_not() -> str | None:
    return netns.why_not() or (None if shutil.which("janus") else "needs janus (apt-get install janus)")


def janus_config(directory: Path) -> Path:
    """The repo's Janus files, with ICE gathering held to the namespace's 127.0.0.2."""
    for name in ("janus.plugin.streaming.jcfg", "janus.transport.http.jcfg"):
        shutil.copy(REPO / "docker" / "janus" / name, directory / name)
    main = (REPO / "docker" / "janus" / "janus.jcfg").read_text()
    main = main.replace('configs_folder = "/etc/janus"', f'configs_folder = "{directory}"')
    main = main.replace('# ice_enforce_list = "eth0"', 'ice_enforce_list = "127.0.0.2"')
    (directory / "janus.jcfg").write_text(main)
    return directory / "janus.jcfg"


class Janus:
    def __init__(self, ns: netns.Netns, config: Path, log: Path) -> None:
        self.ns, self.config, self.log = ns, config, log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = self.ns.popen("janus", "-C", str(self.config), "-F", str(self.config.parent),
                                      "-o", stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(JANUS_HTTP + "/info") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Janus did not start: {self.log.read_text()[-3000:]}")
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


