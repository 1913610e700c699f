"""The containerised demo: what can break silently without a Docker engine to run it."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import shutil
import subprocess
import sys

import aiohttp
import pytest
import yaml

from rfb import cli
from rfb.relay import parse_rtp_url
from rfb.signaling import IceConfig, turn_rest_credentials

from support.paths import ROOT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
TURNCONF = ROOT / "docker" / "turnserver.conf"


def expand(value: str, env: dict[str, str] | None = None) -> str:
    """Compose-style ${VAR:-default} / ${VAR} substitution with the defaults (or ``env``)."""
    env = env or {}

    def sub(m: re.Match[str]) -> str:
        name, _, default = m.group(1).partition(":-")
        name = name.split(":?")[0]
        return env.get(name, default)

    return re.sub(r"\$\{([^}]+)\}", sub, value)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def turn_conf() -> dict[str, str]:
    conf = {}
    for line in TURNCONF.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            conf[key] = value
    return conf


def test_compose_file_validates_against_the_compose_spec() -> None:
    exe = shutil.which("check-jsonschema") or str(ROOT / "missing-check-jsonschema")
    r = subprocess.run(
        [exe, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr


def test_rfb_command_parses_with_the_cli_parser(compose: dict) -> None:
    cmd = [expand(a) for a in compose["services"]["rfb"]["command"]]
    args = cli.build_parser().parse_args(cmd)
    assert args.transport == "webrtc" and args.host == "0.0.0.0"
    assert args.pattern == "bouncing_box"
    # the image's default command parses too
    (cmd_line,) = [rest for word, rest in dockerfile_instructions() if word == "CMD"]
    (entry,) = [rest for word, rest in dockerfile_instructions() if word == "ENTRYPOINT"]
    assert yaml.safe_load(entry) == ["python", "-m", "rfb.server"]
    cli.build_parser().parse_args(yaml.safe_load(cmd_line))


def test_gpu_profile_parses_and_reserves_a_gpu(compose: dict) -> None:
    svc = compose["services"]["rfb-gpu"]
    assert svc["profiles"] == ["gpu"]
    args = cli.build_parser().parse_args([expand(a) for a in svc["command"]])
    assert args.gpu and args.port == 8765
    assert "gpu" in svc["build"]["args"]["EXTRAS"].split(",")
    (device,) = svc["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "video" in device["capabilities"]  # NVENC
    assert (
        svc["environment"]["RFB_TURN_SECRET"]
        == compose["services"]["rfb"]["environment"]["RFB_TURN_SECRET"]
    )


def test_ports_line_up(compose: dict) -> None:
    rfb_cmd = cli.build_parser().parse_args(
        [expand(a) for a in compose["services"]["rfb"]["command"]]
    )
    (published,) = compose["services"]["rfb"]["ports"]
    container_port = int(expand(published).rsplit(":", 1)[1])
    assert container_port == rfb_cmd.port
    exposed = [rest for word, rest in dockerfile_instructions() if word == "EXPOSE"]
    assert exposed == [str(rfb_cmd.port)]
    # TURN: the URL rfb hands out, coturn's listening port and the published port agree
    conf = turn_conf()
    env = compose["services"]["rfb"]["environment"]
    for url in expand(env["RFB_TURN_URLS"]).split(","):
        assert re.match(rf"turn:[^:]+:{conf['listening-port']}\?transport=(udp|tcp)$", url), url
    turn_ports = [expand(p) for p in compose["services"]["turn"]["ports"]]
    assert f"127.0.0.1:{conf['listening-port']}:{conf['listening-port']}/udp" in turn_ports
    relay = f"{conf['min-port']}-{conf['max-port']}"
    assert f"127.0.0.1:{relay}:{relay}/udp" in turn_ports


def test_turn_secret_is_the_same_variable_on_both_sides(compose: dict) -> None:
    rfb_secret = compose["services"]["rfb"]["environment"]["RFB_TURN_SECRET"]
    turn_args = compose["services"]["turn"]["command"]
    (coturn_secret,) = [
        a.split("=", 1)[1] for a in turn_args if a.startswith("--static-auth-secret=")
    ]
    assert rfb_secret == coturn_secret
    assert re.fullmatch(r"\$\{TURN_SECRET(:-[^}]*)?\}", rfb_secret)
    assert "use-auth-secret" in turn_conf()
    # no secret is baked into the image or the repo's coturn config
    assert "static-auth-secret" not in turn_conf()
    assert "SECRET" not in DOCKERFILE.read_text()
    example = (ROOT / ".env.example").read_text()
    assert "TURN_SECRET=" in example


def test_image_runs_as_a_non_root_user_and_keeps_build_tools_out() -> None:
    ins = dockerfile_instructions()
    froms = [rest for word, rest in ins if word == "FROM"]
    assert len(froms) == 2 and all(f.startswith("${BASE_IMAGE}") for f in froms), "multi-stage"
    (base,) = [rest for word, rest in ins if word == "ARG" and rest.startswith("BASE_IMAGE=")]
    assert base.endswith("-slim"), "the default base is a slim image"
    users = [rest for word, rest in ins if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    final = ins[max(i for i, (w, _) in enumerate(ins) if w == "FROM") :]
    assert not any("apt-get install" in rest for _, rest in final)
    ignore = (ROOT / ".dockerignore").read_text().split()
    for path in (".git", "browser", "tests", ".env"):
        assert path in ignore


async def test_health_check_hits_a_route_the_server_serves(serving) -> None:
    (check,) = [rest for word, rest in dockerfile_instructions() if word == "HEALTHCHECK"]
    exec_form = check[check.index("CMD") + 3 :].strip()
    argv = yaml.safe_load(exec_form)
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/-]*)", " ".join(argv))
    assert url is not None and int(url.group(1)) == 8765
    display, _ = await serving(64, 64)
    async with (
        aiohttp.ClientSession() as http,
        http.get(display.url.rstrip("/") + url.group(2)) as r,
    ):
        assert r.status == 200 and await r.text() == "ok"
    # and the probe itself is valid Python that exits 0 against a live server
    probe = argv[-1].replace("8765", str(display.port))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", probe)
    assert await proc.wait() == 0


def test_turn_rest_credentials_match_coturns_scheme() -> None:
    # Vector computed with openssl:
    #   printf '%s' "1700000000:rfb" | openssl dgst -sha1 -hmac north -binary | base64
    user, password = turn_rest_credentials("north", "rfb", ttl_s=0, now=1_700_000_000)
    assert (user, password) == ("1700000000:rfb", "VxDDhmo7vt/Ds+AK5zbM5maPmiw=")
    ice = IceConfig(turn_urls=("turn:h:3478?transport=udp",), turn_secret="north", turn_ttl_s=3600,
                    clock=lambda: 1_699_996_400)  # fmt: skip
    (server,) = ice.servers()
    assert (server.username, server.credential) == (user, password)


def test_compose_environment_reaches_the_cli() -> None:
    env = {"RFB_TURN_URLS": "turn:a:3478?transport=udp,turn:a:3478?transport=tcp",
           "RFB_TURN_SECRET": "s", "RFB_STUN_URLS": ""}  # fmt: skip
    code = ("from rfb import cli; a = cli.build_parser().parse_args([]); c = cli.ice_config(a); "
            "print(repr((c.turn_urls, c.turn_secret, c.stun_urls)))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert ast.literal_eval(out) == (
        ("turn:a:3478?transport=udp", "turn:a:3478?transport=tcp"),
        "s",
        (),
    )


def test_janus_profile_is_fed_by_the_relay_it_names(compose: dict) -> None:
    janus = compose["services"]["janus"]
    assert janus["profiles"] == ["janus"]
    context = ROOT / janus["build"]["context"]
    dockerfile = (context / "Dockerfile").read_text()
    copied = re.search(r"^COPY (.+) /etc/janus/$", dockerfile, re.M)
    assert copied is not None
    for name in copied.group(1).split():
        assert (context / name).is_file(), name
    mount = (context / "janus.plugin.streaming.jcfg").read_text()
    settings = dict(re.findall(r"^\s*(\w+) = (\S+)", mount, re.M))
    # What rfb's relay sends: RTP to the port it names, RTCP to the next, H.264 PT 96.
    _, port = parse_rtp_url("rtp://janus:5004")
    assert (settings["videoport"], settings["videortcpport"]) == (str(port), str(port + 1))
    assert settings["videopt"] == "96" and settings["videocodec"] == '"h264"'
    assert settings["videobufferkf"] == "true"
    # And the sound, where the relay sends it (audio_port=5006): Opus, PT 111, RTCP next.
    assert settings["audio"] == "true" and settings["audiopt"] == "111"
    assert (settings["audioport"], settings["audiortcpport"]) == ("5006", "5007")
    assert settings["audiocodec"] == '"opus"' and settings["audiortpmap"] == '"opus/48000/2"'
    assert "5006/udp" in dockerfile and "RFB_RELAY_AUDIO_PORT" in compose["services"]["rfb"]["environment"]
    http = (context / "janus.transport.http.jcfg").read_text()
    assert "port = 8088" in http
    assert any(p.endswith(":8088:8088/tcp") for p in janus["ports"])
    assert "RFB_RELAY_RTP" in compose["services"]["rfb"]["environment"]


def test_relay_urls_come_from_the_environment_or_the_command_line() -> None:
    code = "from rfb import cli; print(cli.build_parser().parse_args([]).relay_rtp)"
    env = {**os.environ, "RFB_RELAY_RTP": "rtp://janus:5004,rtp://janus-b:5004"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert ast.literal_eval(out) == ["rtp://janus:5004", "rtp://janus-b:5004"]
    args = cli.build_parser().parse_args(["--relay-rtp", "rtp://a:6000", "--relay-rung", "2"])
    assert args.relay_rtp == ["rtp://a:6000"] and args.relay_rung == 2
    assert args.relay_audio_port is None
    assert cli.build_parser().parse_args(["--relay-audio-port", "5006"]).relay_audio_port == 5006
