"""The option model: serve(), add_stream(), Server(), the CLI, RFB_* variables and the
docs' table are all made from rfb.StreamOptions and rfb.ServerOptions (rfb/options.py)."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path

import pytest

import rfb
from rfb import cli, options
from rfb.options import (
    ListenKeywords,
    ServeKeywords,
    ServerKeywords,
    ServerOptions,
    StreamKeywords,
    StreamOptions,
)

ROOT = Path(__file__).resolve().parents[2]
SIZE = {"width", "height"}


def _fields(cls: type) -> dict[str, object]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _defaults(cls: type) -> dict[str, object]:
    return {f.name: f.default for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING}  # fmt: skip


def test_keyword_types_are_the_fields_types() -> None:
    stream = {k: v for k, v in _fields(StreamOptions).items() if k not in SIZE}
    assert typing.get_type_hints(StreamKeywords) == stream
    server = _fields(ServerOptions)
    assert typing.get_type_hints(ServerKeywords) == server
    assert typing.get_type_hints(ListenKeywords) == {
        k: v for k, v in server.items() if k not in ("host", "port")
    }
    assert typing.get_type_hints(ServeKeywords) == {**stream, **server}


@pytest.mark.parametrize(
    ("fn", "classes", "leading"),
    [
        (rfb.serve, (StreamOptions, ServerOptions), ["width", "height"]),
        (rfb.serve_in_thread, (StreamOptions, ServerOptions), ["width", "height"]),
        (rfb.Server.add_stream, (StreamOptions,), ["self", "name", "width", "height"]),
        (rfb.Server.__init__, (ServerOptions,), ["self", "options"]),
    ],
)
def test_signatures_list_every_field_with_its_default(fn, classes, leading) -> None:  # type: ignore[no-untyped-def]
    params = inspect.signature(fn).parameters
    assert list(params)[: len(leading)] == leading
    keywords = {n: p for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    expected: dict[str, object] = {}
    for cls in classes:
        expected |= {f.name: f.default for f in dataclasses.fields(cls) if f.name not in SIZE}
    assert {n: p.default for n, p in keywords.items()} == expected


def test_a_misspelt_option_is_named_with_the_one_it_was_meant_to_be() -> None:
    with pytest.raises(TypeError, match=r"serve\(\) got an unexpected keyword argument "
                                        r"'max_viewer' \(did you mean 'max_viewers'\?\)"):  # fmt: skip
        rfb.serve(64, 48, max_viewer=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="'prot'"):
        rfb.serve_in_thread(64, 48, prot=0)  # type: ignore[call-arg]


def test_each_check_names_its_field_and_the_rule() -> None:
    for bad, message in [
        ({"fps": 0}, "fps must be positive, got 0"),
        ({"quality": 101}, "quality must be 1..100, got 101"),
        ({"max_inflight": 0}, "max_inflight must be at least 1"),
        ({"still_after": -1.0}, "still_after must be positive seconds"),
        ({"max_input_rate": 0.0}, "max_input_rate must be positive events per second, or None"),
        ({"transport": "pigeon"}, "transport must be one of"),
        ({"preferred_image": "image/gif"}, "preferred_image must be one of"),
    ]:
        with pytest.raises(ValueError, match=message):
            StreamOptions(width=64, height=48, **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"port must be 0\.\.65535"):
        ServerOptions(port=70000)
    with pytest.raises(ValueError, match="origins is a list"):
        ServerOptions(origins="https://a.example")
    assert ServerOptions(origins=["https://a.example"]).origins == ("https://a.example",)


def test_every_field_a_program_can_set_from_the_command_line_has_a_flag() -> None:
    parser = cli.build_parser({})
    dests = {a.dest for a in parser._actions}
    for cls in (StreamOptions, ServerOptions):
        for f in dataclasses.fields(cls):
            assert (f.name in dests) == options.spec_of(f).cli, f.name
    code_only = [f.name for cls in (StreamOptions, ServerOptions) for f in dataclasses.fields(cls)
                 if not options.spec_of(f).cli]  # fmt: skip
    assert code_only == ["authenticate", "ssl_context", "ice"]  # callables and objects


def test_flags_default_to_the_fields_defaults() -> None:
    args = cli.build_parser({}).parse_args([])
    stream = cli.options_from(args, StreamOptions)
    assert stream == StreamOptions(**cli.DEMO_SIZE)
    assert cli.options_from(args, ServerOptions) == ServerOptions()


def test_flags_and_environment_set_options() -> None:
    environ = {"RFB_FPS": "12.5", "RFB_FEC": "0", "RFB_ORIGINS": "https://a.example, https://b.example",
               "RFB_STILL_AFTER": "none", "RFB_TRANSPORT": "webrtc", "RFB_PORT": "0"}  # fmt: skip
    args = cli.build_parser(environ).parse_args(
        ["--max-viewers", "3", "--max-pending", "2", "--playout-delay", "none",
         "--max-input-rate", "0", "--no-adaptive", "--width", "320", "--height", "200"]
    )  # fmt: skip
    stream = cli.options_from(args, StreamOptions)
    assert (stream.fps, stream.fec, stream.still_after, stream.transport) == (12.5, False, None,
                                                                              "webrtc")  # fmt: skip
    assert (stream.max_viewers, stream.max_pending, stream.playout_delay_ms) == (3, 2, None)
    assert (stream.max_input_rate, stream.adaptive, stream.width) == (None, False, 320)
    server = cli.options_from(args, ServerOptions)
    assert server.origins == ("https://a.example", "https://b.example") and server.port == 0
    args = cli.build_parser({}).parse_args(["--playout-delay-ms", "0,40", "--still-after", "0"])
    stream = cli.options_from(args, StreamOptions)
    assert (stream.playout_delay_ms, stream.still_after) == ((0, 40), None)


def test_a_bad_environment_variable_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser({"RFB_FPS": "fast"})
    assert "RFB_FPS='fast'" in capsys.readouterr().err


def test_a_bad_flag_value_is_refused_by_the_options_own_check() -> None:
    args = cli.build_parser({}).parse_args(["--quality", "0"])
    with pytest.raises(ValueError, match=r"quality must be 1\.\.100"):
        cli.options_from(args, StreamOptions)


def test_the_docs_options_table_is_generated_from_the_fields() -> None:
    table = options.options_table()
    assert (ROOT / "docs" / "reference" / "options.md").read_text() == table, (
        "docs/reference/options.md is stale: run bash scripts/options-table"
    )
    for cls in (StreamOptions, ServerOptions):
        for f in dataclasses.fields(cls):
            assert f"| `{f.name}` |" in table


def test_no_stream_default_is_written_in_serve_or_the_cli() -> None:
    """Defaults live in the fields alone: serve()'s and the CLI's source carry none."""
    source = inspect.getsource(rfb.api) + inspect.getsource(cli)
    for name, default in _defaults(StreamOptions).items():
        for text in (f"{name}: ", f"{name}=", f"default={default!r}"):
            assert f"{text}{default!r}" not in source, (name, text)


def test_preset_is_a_stream_option_and_a_bad_one_is_named() -> None:
    import rfb
    from rfb.options import StreamOptions

    opts = StreamOptions(width=64, height=48, preset="superfast")
    assert opts.encoder_settings().preset == "superfast"
    assert StreamOptions(width=64, height=48).encoder_settings().preset == "ultrafast"
    with pytest.raises(ValueError, match=r"preset must be one of .*'ultrafast'.*got 'quick'"):
        rfb.serve(64, 48, preset="quick")
