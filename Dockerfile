# The rfb demo server: python -m rfb.server with H.264 (PyAV) and WebRTC (aiortc).
#   docker compose up        (see docker-compose.yml and README.md)

# Build stage: wheels for rfb and everything it needs (PyAV and aiortc ship manylinux
# wheels, so no compiler is needed; none reaches the final image either way).
FROM python:3.11-slim AS build
# h264,webrtc by default; the compose "gpu" profile adds gpu (CuPy, PyNvVideoCodec).
ARG EXTRAS=h264,webrtc
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rfb ./rfb
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[${EXTRAS}]"

FROM python:3.11-slim
ARG EXTRAS=h264,webrtc
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin rfb
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels "rfb[${EXTRAS}]"
USER rfb
WORKDIR /home/rfb
ENV PYTHONUNBUFFERED=1
EXPOSE 8765
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/health', timeout=2)"]
ENTRYPOINT ["python", "-m", "rfb.server"]
CMD ["--host", "0.0.0.0", "--port", "8765", "--pattern", "bouncing_box", "--transport", "webrtc"]
