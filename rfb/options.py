"""Every option of a stream and of a server, defined once.

``StreamOptions`` holds each per-stream option with its type, default, check and a
one-line doc; ``ServerOptions`` the server-wide ones (address, TLS, origins, ICE).
Everything else is derived from these two dataclasses:

- the keywords of ``serve()``, ``serve_in_thread()``, ``serve_server()``,
  ``Server(...)`` and ``Server.add_stream()`` (``StreamKeywords``/``ServerKeywords``,
  which mypy and editors check, and the runtime signatures ``help()`` shows);
- the command line's flags and their ``RFB_<FIELD>`` environment variables (rfb/cli.py);
- the hub's encoder settings (``StreamOptions.encoder_settings``);
- the options table in docs/reference/options.md (``bash scripts/options-table``).

tests/unit/test_options.py pins the keyword types and the flags to the fields, and
docs/reference/options.md to ``options_table()``.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import ssl
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field
from typing import Any, Literal, TypedDict

from . import protocol
from .access import AccessPolicy, Authenticator
from .encoders.base import X264_PRESETS, EncoderSettings
from .origins import normalise as normalise_origin
from .session import chroma as chroma_policy
from .session import control as control_floor
from .session import ladder
from .session.group import DEFAULT_KEYFRAME_MIN_INTERVAL_S
from .session.input_gate import DEFAULT_INPUT_RATE
from .session.viewer import DEFAULT_MAX_INFLIGHT
from .signaling import IceConfig

Transport = Literal["websocket", "webrtc"]
TRANSPORTS: tuple[Transport, ...] = ("websocket", "webrtc")
_ENCODER = EncoderSettings()  # its defaults are the stream's (one place for each)


@dataclass(frozen=True, slots=True)
class Spec:
    """What a field says about itself beyond its type and default."""

    doc: str  # one line: the docs table, --help, help(serve)
    check: Callable[[Any], bool] | None = None  # a valid value?
    must: str = ""  # ... and what it must be, for the error
    cli: bool = True  # has a flag (False: only from code, e.g. a callable)
    flag: str | None = None  # the flag's name, where it is not --<field-with-dashes>
    aliases: tuple[str, ...] = ()  # older flag names that still work
    choices: tuple[str, ...] | None = None
    zero_is_none: bool = False  # on the command line, 0 means None (no cap, never)


def option(default: Any = MISSING, doc: str = "", **spec: Any) -> Any:
    """A dataclass field with its Spec (see Spec for the keywords)."""
    meta = {"spec": Spec(doc, **spec)}
    if default is MISSING:
        return field(metadata=meta)
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults: use a tuple")
    return field(default=default, metadata=meta)


def spec_of(f: dataclasses.Field[Any]) -> Spec:
    spec: Spec = f.metadata["spec"]
    return spec


def _check_fields(obj: Any) -> None:
    for f in dataclasses.fields(obj):
        spec = spec_of(f)
        value = getattr(obj, f.name)
        if spec.choices is not None and value not in spec.choices:
            raise ValueError(f"{f.name} must be one of {spec.choices}, got {value!r}")
        if spec.check is not None and not spec.check(value):
            raise ValueError(f"{f.name} must be {spec.must}, got {value!r}")


def _playout_delay_ok(v: tuple[int, int] | None) -> bool:
    # The RTP extension carries 12 bits of 10 ms each.
    return v is None or (len(v) == 2 and 0 <= v[0] <= v[1] <= 40_950)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamOptions:
    """One stream's options. Streams on one server are independent of each other."""

    width: int = option(doc="frame width in pixels (a published frame of another size resizes "
                        "the stream)", check=lambda v: 1 <= v <= protocol.MAX_DIMENSION,
                        must=f"1..{protocol.MAX_DIMENSION}")  # fmt: skip
    height: int = option(doc="frame height in pixels",
                         check=lambda v: 1 <= v <= protocol.MAX_DIMENSION,
                         must=f"1..{protocol.MAX_DIMENSION}")  # fmt: skip
    transport: Transport = option(
        "websocket",
        "'webrtc' also serves WHEP at /whep and makes WebRTC the page's first choice",
        choices=TRANSPORTS,
    )
    fps: float = option(_ENCODER.fps, "frames per second at most (rate control expects it)",
                        check=lambda v: v > 0, must="positive")  # fmt: skip
    bitrate: int = option(0, "H.264 bits/s of the top rung (0: about 0.1 bit per pixel per frame)",
                          check=lambda v: v >= 0, must=">= 0 (0: auto)")  # fmt: skip
    quality: int = option(_ENCODER.quality, "JPEG/WebP quality", check=lambda v: 1 <= v <= 100,
                          must="1..100")  # fmt: skip
    preset: str = option(_ENCODER.preset, "x264's speed against quality at the same bitrate",
                         choices=X264_PRESETS)  # fmt: skip
    chroma: str = option(
        chroma_policy.AUTO,
        "H.264 chroma: '444' for every viewer that decodes High 4:4:4 (sharp coloured text "
        "and lines), '420' for all, 'auto': 4:4:4 unless the stream encodes on NVENC",
        choices=chroma_policy.POLICIES,
    )  # fmt: skip
    force_image: bool = option(False, "never send H.264: JPEG (or another image codec) only")
    preferred_image: str = option(protocol.CAP_JPEG, "the image codec for viewers without H.264",
                                  choices=protocol.IMAGE_CAPS)  # fmt: skip
    adaptive: bool = option(True, "give each viewer the rung of a quality ladder its path carries")
    min_bitrate: int = option(ladder.DEFAULT_MIN_BITRATE, "the lowest rung's bits/s",
                              check=lambda v: v >= 1, must="at least 1")  # fmt: skip
    max_rungs: int = option(ladder.DEFAULT_MAX_RUNGS, "at most this many rungs",
                            check=lambda v: v >= 1, must="at least 1")  # fmt: skip
    still_after: float | None = option(
        0.3, "seconds at rest before a high-quality still (None: never)",
        check=lambda v: v is None or 0 < v <= 3600, must="positive seconds (<= 3600), or None",
        zero_is_none=True,
    )  # fmt: skip
    max_inflight: int = option(DEFAULT_MAX_INFLIGHT, "units a viewer may have unacknowledged",
                               check=lambda v: v >= 1, must="at least 1")  # fmt: skip
    keyframe_interval_s: float = option(_ENCODER.keyframe_interval_s,
                                        "seconds between periodic H.264 keyframes",
                                        check=lambda v: v > 0, must="positive")  # fmt: skip
    keyframe_min_interval_s: float = option(
        DEFAULT_KEYFRAME_MIN_INTERVAL_S, "seconds at least between keyframes viewers ask for",
        check=lambda v: v >= 0, must=">= 0",
    )  # fmt: skip
    token: str | None = option(None, "a viewer needs this token (hello, or WHEP's Bearer) to "
                               "connect and drive")  # fmt: skip
    view_token: str | None = option(None, "a second token that lets a viewer watch, not drive")
    authenticate: Authenticator | None = option(
        None, "a hook (sync or async) given an rfb.AuthContext per viewer: a principal, "
        "rfb.ViewOnly(principal) or None to refuse; replaces the tokens", cli=False,
    )  # fmt: skip
    record_events: bool = option(False, "keep every delivered input event (served at "
                                 "/recorded-events)")  # fmt: skip
    max_input_rate: float | None = option(
        DEFAULT_INPUT_RATE, "input events per second one viewer may send on (None: no cap)",
        check=lambda v: v is None or v > 0, must="positive events per second, or None",
        zero_is_none=True,
    )  # fmt: skip
    control: str = option(
        control_floor.SHARED, "who drives: 'shared' (every viewer that may), or 'exclusive' "
        "(one viewer at a time holds the control floor; the others' input is dropped)",
        choices=control_floor.MODES,
    )  # fmt: skip
    control_idle_s: float | None = option(
        control_floor.DEFAULT_IDLE_S, "exclusive control: seconds without input after which "
        "the holder loses the floor to a request (None: only when it lets go)",
        check=lambda v: v is None or v > 0, must="positive seconds, or None", zero_is_none=True,
    )  # fmt: skip
    control_on_click: bool = option(False, "exclusive control: a click takes the floor when "
                                    "nobody holds it")  # fmt: skip
    presence: bool = option(False, "show each viewer's pointer, labelled, on the other "
                            "viewers' views (at most 15 updates a second)")  # fmt: skip
    uploads: bool = option(False, "viewers that may drive can send files (a 'file' event in "
                           "poll_events(); display.on_upload() to stream them)")  # fmt: skip
    microphone: bool = option(False, "viewers that may drive can send their microphone "
                              "(display.audio_in(); exclusive control: the floor's holder "
                              "only)")  # fmt: skip
    max_upload_bytes: int = option(
        32 * 1024 * 1024, "the largest file a viewer may upload, in bytes (larger offers are "
        "refused)", check=lambda v: 0 <= v <= protocol.MAX_FILE_SIZE, must=">= 0",
    )  # fmt: skip
    max_viewers: int = option(64, "viewers on all transports; the next is refused (1013 / 429)",
                              check=lambda v: v >= 1, must="at least 1")  # fmt: skip
    max_pending: int = option(32, "WebSocket connections that have not sent hello yet",
                              check=lambda v: v >= 1, must="at least 1")  # fmt: skip
    max_webrtc_sessions: int = option(32, "WebRTC sessions at once (0: WHEP refuses every one)",
                                      check=lambda v: v >= 0, must=">= 0")  # fmt: skip
    playout_delay_ms: tuple[int, int] | None = option(
        (0, 100), "WebRTC: (min, max) ms the browser may hold a frame to smooth playout "
        "(None: the browser's own choice)", check=_playout_delay_ok,
        must="(min, max) with 0 <= min <= max <= 40950, or None", aliases=("--playout-delay",),
    )  # fmt: skip
    fec: bool = option(True, "WebRTC: forward error correction where the browser takes it")

    def __post_init__(self) -> None:
        _check_fields(self)
        self.access_policy()  # raises ValueError for a contradictory combination

    def access_policy(self) -> AccessPolicy:
        return AccessPolicy(self.authenticate, self.token, self.view_token)

    def encoder_settings(self) -> EncoderSettings:
        """The top rung's encoder settings."""
        return EncoderSettings(
            quality=self.quality,
            bitrate=self.bitrate,
            fps=self.fps,
            keyframe_interval_s=self.keyframe_interval_s,
            preset=self.preset,
        )


def _origins_ok(origins: tuple[str, ...]) -> bool:
    for origin in origins:
        if origin != "*":
            normalise_origin(origin)  # raises ValueError naming a malformed one
    return True


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerOptions:
    """What every stream of one server shares: where it listens, TLS, origins, ICE."""

    host: str = option("127.0.0.1", "address to listen on (0.0.0.0: every interface)")
    port: int = option(8765, "port to listen on (0: a free one; read it back from .port)",
                       check=lambda v: 0 <= v <= 65535, must="0..65535")  # fmt: skip
    origins: Sequence[str] = option(
        (), "web pages on these origins may connect besides the server's own ('*': any)",
        check=_origins_ok, flag="--origin",
    )  # fmt: skip
    ssl_context: ssl.SSLContext | None = option(
        None, "serve https:// and wss:// (rfb.tls_context(certfile, keyfile); CLI: --certfile)",
        cli=False,
    )  # fmt: skip
    ice: IceConfig | None = option(
        None, "WebRTC's STUN/TURN servers and the addresses ICE may use (CLI: --stun, --turn, "
        "...)", cli=False,
    )  # fmt: skip
    metrics_token: str | None = option(
        None, "a Bearer token that reads every stream's figures (/metrics, /streams), for a "
        "scraper; once set, open streams' figures need it too",
        check=lambda v: v is None or (v != "" and v == v.strip()),
        must="a non-empty string without surrounding spaces, or None",
    )  # fmt: skip

    event_loop: str = option(
        "auto", "the event loop rfb runs when it runs its own (serve_in_thread, the command "
        "line): uvloop (pip install 'rfb[fast]'; fewer µs per viewer), asyncio, or auto: "
        "uvloop where installed", choices=("auto", "uvloop", "asyncio"),
    )  # fmt: skip

    def __post_init__(self) -> None:
        if isinstance(self.origins, str):  # tuple("https://a") would be its letters
            raise ValueError("origins is a list of origins, e.g. ['https://app.example']")
        object.__setattr__(self, "origins", tuple(self.origins))
        _check_fields(self)


# -- keywords: what serve(), add_stream() and Server() take ------------------------------
# The same names and types as the fields (tests/unit/test_options.py checks it), without
# width and height, which those functions take as positional arguments.


class StreamKeywords(TypedDict, total=False):
    transport: Transport
    fps: float
    bitrate: int
    quality: int
    preset: str
    chroma: str
    force_image: bool
    preferred_image: str
    adaptive: bool
    min_bitrate: int
    max_rungs: int
    still_after: float | None
    max_inflight: int
    keyframe_interval_s: float
    keyframe_min_interval_s: float
    token: str | None
    view_token: str | None
    authenticate: Authenticator | None
    record_events: bool
    max_input_rate: float | None
    control: str
    control_idle_s: float | None
    control_on_click: bool
    presence: bool
    uploads: bool
    microphone: bool
    max_upload_bytes: int
    max_viewers: int
    max_pending: int
    max_webrtc_sessions: int
    playout_delay_ms: tuple[int, int] | None
    fec: bool


class ListenKeywords(TypedDict, total=False):
    """ServerOptions less host and port (which serve_server() takes positionally)."""

    origins: Sequence[str]
    ssl_context: ssl.SSLContext | None
    ice: IceConfig | None
    metrics_token: str | None
    event_loop: str


class ServerKeywords(ListenKeywords, total=False):
    host: str
    port: int


class ServeKeywords(StreamKeywords, ServerKeywords, total=False):
    """serve()'s keywords: a stream's and its server's."""


STREAM_FIELDS = tuple(f.name for f in dataclasses.fields(StreamOptions))
SERVER_FIELDS = tuple(f.name for f in dataclasses.fields(ServerOptions))
POSITIONAL = ("width", "height")


def _unknown(where: str, names: set[str], known: Sequence[str]) -> TypeError:
    name = sorted(names)[0]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return TypeError(f"{where} got an unexpected keyword argument {name!r}{hint}")


def split_keywords(
    where: str, keywords: Mapping[str, Any], *, server: bool = True
) -> tuple[dict[str, Any], dict[str, Any]]:
    """serve()'s keywords as (StreamOptions', ServerOptions') ones; TypeError naming an
    unknown one (and the option it was probably meant to be)."""
    stream = {k: v for k, v in keywords.items() if k in STREAM_FIELDS and k not in POSITIONAL}
    server_kw = {k: v for k, v in keywords.items() if server and k in SERVER_FIELDS}
    unknown = set(keywords) - set(stream) - set(server_kw)
    if unknown:
        known = [n for n in STREAM_FIELDS if n not in POSITIONAL]
        raise _unknown(where, unknown, known + (list(SERVER_FIELDS) if server else []))
    return stream, server_kw


def keyword_parameters(*classes: type, skip: Sequence[str] = ()) -> list[inspect.Parameter]:
    """Keyword-only parameters with the fields' defaults and types: runtime signatures."""
    params = []
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in skip:
                continue
            default = inspect.Parameter.empty if f.default is MISSING else f.default
            params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                            default=default, annotation=hints[f.name]))  # fmt: skip
    return params


def with_signature(fn: Callable[..., Any], leading: Sequence[inspect.Parameter],
                   *classes: type, skip: Sequence[str] = ()) -> None:  # fmt: skip
    """Give ``fn`` (which takes ``**keywords``) the signature the fields make, so that
    help(), IPython and inspect show every option with its default."""
    old = inspect.signature(fn)
    trailing = [p for p in old.parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in skip]  # fmt: skip
    params = [*leading, *keyword_parameters(*classes, skip=skip), *trailing]
    fn.__signature__ = old.replace(parameters=params)  # type: ignore[attr-defined]


# -- the docs' table ---------------------------------------------------------------------


def _default_text(f: dataclasses.Field[Any]) -> str:
    if f.default is MISSING:
        return "required"
    return f"`{f.default!r}`"


def options_table() -> str:
    """docs/reference/options.md: every option, its default, its flag and what it does."""
    lines = [
        "# Options",
        "",
        "Generated from `rfb/options.py` by `bash scripts/options-table`;",
        "a test fails when they differ. Every stream option is a keyword of `rfb.serve()`,",
        "`rfb.serve_in_thread()` and `server.add_stream()`, a flag of `rfb` (the demo",
        "server) and, for the flag's default, an environment variable. Server options are",
        "keywords of `rfb.serve()`, `rfb.serve_server()` and `rfb.Server()`.",
        "",
    ]
    for title, cls in (("Stream options (`rfb.StreamOptions`)", StreamOptions),
                       ("Server options (`rfb.ServerOptions`)", ServerOptions)):  # fmt: skip
        lines += [f"## {title}", "", "| option | default | flag / environment | what it does |",
                  "|---|---|---|---|"]  # fmt: skip
        for f in dataclasses.fields(cls):
            spec = spec_of(f)
            where = f"`{flag_name(f)}` / `{env_name(f)}`" if spec.cli else "code only"
            lines.append(f"| `{f.name}` | {_default_text(f)} | {where} | {spec.doc} |")
        lines.append("")
    return "\n".join(lines)


def flag_name(f: dataclasses.Field[Any]) -> str:
    return spec_of(f).flag or "--" + f.name.replace("_", "-")


def env_name(f: dataclasses.Field[Any]) -> str:
    return "RFB_" + f.name.upper()
