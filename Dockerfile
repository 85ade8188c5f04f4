# wirewatch: a small image that runs the bot as a non-root user.
#   docker build -t wirewatch .
#   docker run -d --name wirewatch -v wirewatch-data:/data \
#     -v "$PWD/config:/config:ro" --env-file .env wirewatch
# Secrets come from the environment (or *_FILE paths) at run time, never from the image.
# tests/test_image.py parses this file and performs its install steps in a fresh venv.

ARG PYTHON_VERSION=3.11

# --- build: every wheel the bot needs, built or downloaded once ----------------------------
FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY watchlists ./watchlists
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime: the wheels installed, no compiler, no source tree ----------------------------
FROM python:${PYTHON_VERSION}-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WIREWATCH_DATA_DIR=/data \
    WIREWATCH_WEB_HOST=0.0.0.0 \
    WIREWATCH_WEB_PORT=8080
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels wirewatch && rm -rf /wheels
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin wirewatch \
    && mkdir -p /data /config \
    && chown wirewatch:wirewatch /data
# /config holds wirewatch.yaml and, optionally, a watchlists/ folder: both are found
# there because it is the working directory. /data holds the SQLite database.
WORKDIR /config
VOLUME ["/data"]
USER wirewatch
EXPOSE 8080
# SIGTERM stops polling, lets in-flight deliveries finish (the rest stay pending in the
# outbox) and exits 0; give it the compose file's 30 s grace.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 \
    CMD ["wirewatch", "health"]
ENTRYPOINT ["wirewatch"]
CMD ["run"]
