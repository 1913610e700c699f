"""Where a peer connection's ICE may gather candidates and whom it answers, and which
remote candidates of an offer rfb keeps. Sans-I/O: the policy as data and the offer
filter; aiortc_compat.py applies a policy to aioice (per peer connection).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..signaling import IceConfig

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def allowed(networks: Sequence[Network] | None, host: str) -> bool:
    """Whether ``host`` (an IP address, an IPv6 one maybe with a ``%zone``) is in one of
    ``networks`` (None: no restriction). Names are never allowed by a restriction."""
    if networks is None:
        return True
    try:
        addr = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return any(addr in net for net in networks)


@dataclass(frozen=True, slots=True)
class IcePolicy:
    """One peer connection's ICE addresses: ``host_addresses`` replaces the list of local
    addresses aioice gathers on (None: aioice's own, every non-loopback interface);
    ``networks`` restricts the remote addresses it keeps candidates from and answers
    (None: any)."""

    host_addresses: tuple[str, ...] | None = None
    networks: tuple[Network, ...] | None = None

    @classmethod
    def of(cls, ice: IceConfig) -> IcePolicy:
        return cls(
            None if ice.host_addresses is None else tuple(ice.host_addresses),
            None
            if ice.allowed_remote_networks is None
            else tuple(ipaddress.ip_network(n, strict=False) for n in ice.allowed_remote_networks),
        )

    def allows(self, host: str) -> bool:
        return allowed(self.networks, host)

    def gather_on(self, use_ipv4: bool, use_ipv6: bool) -> list[str] | None:
        """The local addresses to gather host candidates on, of the families aioice asks
        for (None: aioice's own list)."""
        if self.host_addresses is None:
            return None
        return [
            a for a in self.host_addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)
        ]


# The process default: the policy of aioice connections that no rfb server created (a
# program's own aiortc peers, test players) and of filter_offer given no policy. Set by
# aiortc_compat.apply_ice_policy; rfb's own peer connections each follow their server's.
_host_addresses: tuple[str, ...] | None = None
_networks: list[Network] | None = None


def set_default_policy(policy: IcePolicy) -> None:
    global _host_addresses, _networks
    _host_addresses = policy.host_addresses
    _networks = None if policy.networks is None else list(policy.networks)


def default_policy() -> IcePolicy:
    return IcePolicy(_host_addresses, None if _networks is None else tuple(_networks))


_CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ", re.I)


def filter_offer(sdp: str, strip_mdns: bool = True, policy: IcePolicy | None = None) -> str:
    """Drop remote candidates that would stall or break the session.

    mDNS host candidates (``*.local``, Chromium's default) make aiortc wait about a second
    to resolve them; the browser's connectivity checks reach us anyway and give us its
    address as a peer-reflexive candidate. Candidates outside the allowed networks of
    ``policy`` (None: the process default) are dropped too.
    """
    networks = (policy if policy is not None else default_policy()).networks
    out = []
    for line in sdp.splitlines(keepends=True):
        m = _CANDIDATE.match(line)
        host = m.group(1).lower() if m else ""
        if m and host.endswith(".local"):
            if strip_mdns:
                continue
        elif m and not allowed(networks, host):
            continue
        out.append(line)
    return "".join(out)
