"""Janus for tests and benchmarks: the repo's docker/janus configuration, run in a
network namespace (tests/support/netns.py) where ICE gathers on 127.0.0.2, and, for a
watcher behind a bottleneck, on the Janus end of a ``WatcherLink`` (10.77.0.1): a veth
pair to a namespace of the watcher's own, shaped with ``tc tbf``."""

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
# The link to a watcher's own namespace: Janus's (and rfb's) end, and the watcher's.
LINK_JANUS, LINK_WATCHER = "10.77.0.1", "10.77.0.2"
LINK_JANUS_HTTP = f"http://{LINK_JANUS}:8088/janus"


def why_not() -> str | None:
    return netns.why_not() or (None if shutil.which("janus") else "needs janus (apt-get install janus)")


def janus_config(directory: Path) -> Path:
    """The repo's Janus files, with ICE gathering held to the namespace's 127.0.0.2 and
    the Janus end of a WatcherLink."""
    for name in ("janus.plugin.streaming.jcfg", "janus.transport.http.jcfg"):
        shutil.copy(REPO / "docker" / "janus" / name, directory / name)
    main = (REPO / "docker" / "janus" / "janus.jcfg").read_text()
    main = main.replace('configs_folder = "/etc/janus"', f'configs_folder = "{directory}"')
    main = main.replace('# ice_enforce_list = "eth0"', f'ice_enforce_list = "127.0.0.2,{LINK_JANUS}"')
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




class WatcherLink:
    """A namespace for one watcher, joined to Janus's by a veth pair (``LINK_JANUS`` on
    Janus's side, ``LINK_WATCHER`` on the watcher's) whose Janus end can be shaped: what
    Janus sends the watcher goes through ``tc tbf`` there. Removed with ``remove()``."""

    def __init__(self, janus_ns: netns.Netns, prefix: str = "rfbw") -> None:
        self.janus_ns = janus_ns
        self.ns = netns.Netns(prefix)
        try:
            janus_ns.run("ip", "link", "add", "jw0", "type", "veth", "peer", "name", "jw1",
                         "netns", self.ns.name)  # fmt: skip
            janus_ns.run("ip", "addr", "add", f"{LINK_JANUS}/24", "dev", "jw0")
            janus_ns.run("ip", "link", "set", "jw0", "up")
            self.ns.run("ip", "addr", "add", f"{LINK_WATCHER}/24", "dev", "jw1")
            self.ns.run("ip", "link", "set", "jw1", "up")
            # A default route on the link, so Chromium finds a "default" interface there.
            self.ns.run("ip", "route", "add", "default", "dev", "jw1")
        except BaseException:
            self.remove()
            raise

    def limit(self, mbit: float | None) -> None:
        """A bottleneck of ``mbit`` Mbit/s from Janus to the watcher (None: lift it). The
        queue holds ~200 ms; beyond that packets are dropped, as at a real bottleneck."""
        if mbit is None:
            subprocess.run(self.janus_ns.command("tc", "qdisc", "del", "dev", "jw0", "root"),
                           check=False, capture_output=True)  # fmt: skip
            return
        self.janus_ns.run("tc", "qdisc", "replace", "dev", "jw0", "root", "tbf", "rate",
                          f"{mbit}mbit", "burst", "12kb", "latency", "200ms")  # fmt: skip

    def remove(self) -> None:
        self.ns.remove()  # takes its end of the veth, and so the pair, with it
