# The rfb demo server: python -m rfb.server with H.264 (PyAV) and WebRTC (aiortc).
#   docker compose up        (see docker-compose.yml and README.md)
#
# BASE_IMAGE: the official slim Python image by default. Where no registry is reachable,
# any Debian-like image with python3 and python3-venv will do (scripts/compose-check makes
# one with debootstrap); a wheelhouse/ folder in the build context, when present, is
# where the wheels come from (for a build that cannot reach PyPI either).
ARG BASE_IMAGE=python:3.11-slim

# Build stage: wheels for rfb and everything it needs (PyAV and aiortc ship manylinux
# wheels, so no compiler is needed; none reaches the final image either way).
FROM ${BASE_IMAGE} AS build
# h264,webrtc by default; the compose "gpu" profile adds gpu (CuPy, PyNvVideoCodec).
ARG EXTRAS=h264,webrtc
WORKDIR /src
COPY . ./
RUN python3 -m venv /opt/build \
    && if [ -d wheelhouse ]; then from="--no-index --find-links wheelhouse"; else from=""; fi \
    && /opt/build/bin/pip wheel --no-cache-dir $from --wheel-dir /wheels ".[${EXTRAS}]"

FROM ${BASE_IMAGE}
ARG EXTRAS=h264,webrtc
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin rfb
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python3 -m venv /opt/rfb \
    && /opt/rfb/bin/pip install --no-cache-dir --no-index --find-links /wheels "rfb[${EXTRAS}]"
ENV PATH=/opt/rfb/bin:$PATH
USER rfb
WORKDIR /home/rfb
ENV PYTHONUNBUFFERED=1
EXPOSE 8765
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/health', timeout=2)"]
ENTRYPOINT ["python", "-m", "rfb.server"]
CMD ["--host", "0.0.0.0", "--port", "8765", "--pattern", "bouncing_box", "--transport", "webrtc"]
