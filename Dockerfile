# hubbub in a container: the server with its web door, its data in a volume.
#   docker build -t hubbub .
#   docker run -d --name hubbub -p 1100:1100 -p 8080:8080 -v hubbub-data:/data hubbub
# Configuration: HUBBUB_* environment variables (docker run -e HUBBUB_NETWORK=...) or a TOML file
# mounted into the container and named with HUBBUB_CONFIG. See docs/deploy.md.
FROM python:3.11-slim

# The optional fast event loop; no compiler is needed (uvloop ships wheels).
COPY . /src
RUN pip install --no-cache-dir '/src[fast]' && rm -rf /src \
    && useradd --system --home-dir /data --shell /usr/sbin/nologin hubbub \
    && mkdir -p /data && chown hubbub:hubbub /data

USER hubbub
VOLUME ["/data"]
# IRC (plain), the web door (browser client, WebSocket IRC, /metrics, /healthz)
EXPOSE 1100 8080
ENV HUBBUB_HOST=0.0.0.0 \
    HUBBUB_DATA_DIR=/data \
    HUBBUB_WEB_PORT=8080 \
    HUBBUB_LOG_FORMAT=json
STOPSIGNAL SIGTERM
CMD ["hubbub", "serve"]
