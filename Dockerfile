# syntax=docker/dockerfile:1
# Build stage: install the bot and its dependencies into a virtual environment.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies first, exactly as locked: pip refuses any file whose hash is not in the lock.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes -r requirements.lock
# Then the bot itself, without letting pip resolve (and fetch) anything the lock did not pin.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN /opt/venv/bin/pip install --no-deps .

# Runtime stage: the venv only, a non-root user, the store on a volume.
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATABASE_URL=sqlite:////data/bot.sqlite3 \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080
RUN groupadd --system --gid 10001 mjbot \
    && useradd --system --uid 10001 --gid mjbot --home-dir /app --shell /usr/sbin/nologin mjbot \
    && mkdir -p /data /app \
    && chown mjbot:mjbot /data /app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER mjbot
VOLUME ["/data"]
EXPOSE 8080
# Slim images have no curl: ask /healthz with the Python that is already there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('HTTP_PORT', '8080')}/healthz\", timeout=4).status == 200 else 1)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
