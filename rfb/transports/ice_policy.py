"""Where aioice may gather candidates and whom it answers, and which remote candidates of
an offer rfb keeps. Process-wide, like aioice itself (it has no per-connection setting).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ..signaling import IceConfig
from .aiortc_compat import load_aiortc

_policy: IceConfig | None = None
_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None


def _allowed(host: str) -> bool:
    if _networks is None:
        return True
    try:
        addr = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return any(addr in net for net in _networks)


def apply_ice_policy(ice: IceConfig) -> None:
    """Restrict where aioice gathers and whom it answers (process-wide, like aioice itself).

    aioice skips loopback and offers every other interface; containers, multi-homed hosts
    and tests need to choose. ``host_addresses`` replaces aioice's address list;
    ``allowed_remote_networks`` makes it ignore datagrams from anywhere else, so no
    connectivity check is ever answered towards a disallowed address.
    """
    global _policy, _networks
    load_aiortc()
    import aioice.ice

    _policy = ice
    _networks = (
        [ipaddress.ip_network(n, strict=False) for n in ice.allowed_remote_networks]
        if ice.allowed_remote_networks is not None
        else None
    )
    ice_module: Any = aioice.ice  # patched in place: aioice has no per-connection setting
    if not hasattr(ice_module, "_rfb_original_get_host_addresses"):
        original = ice_module.get_host_addresses
        ice_module._rfb_original_get_host_addresses = original

        def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
            if _policy is not None and _policy.host_addresses is not None:
                return [
                    a
                    for a in _policy.host_addresses
                    if (":" in a and use_ipv6) or (":" not in a and use_ipv4)
                ]
            return original(use_ipv4, use_ipv6)

        ice_module.get_host_addresses = get_host_addresses

        received = ice_module.StunProtocol.datagram_received

        def datagram_received(self: Any, data: bytes, addr: tuple[Any, ...]) -> None:
            if _allowed(str(addr[0])):
                received(self, data, addr)

        ice_module.StunProtocol.datagram_received = datagram_received


_CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ", re.I)


def filter_offer(sdp: str, strip_mdns: bool = True) -> str:
    """Drop remote candidates that would stall or break the session.

    mDNS host candidates (``*.local``, Chromium's default) make aiortc wait about a second
    to resolve them; the browser's connectivity checks reach us anyway and give us its
    address as a peer-reflexive candidate. Candidates outside the allowed networks are
    dropped too.
    """
    out = []
    for line in sdp.splitlines(keepends=True):
        m = _CANDIDATE.match(line)
        host = m.group(1).lower() if m else ""
        if m and host.endswith(".local"):
            if strip_mdns:
                continue
        elif m and not _allowed(host):
            continue
        out.append(line)
    return "".join(out)
