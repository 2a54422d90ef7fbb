# tinyfleet fleet server (no TensorFlow): the `server` extra pinned by the lock, plus Mosquitto for a
# single-container set-up (the compose topology uses its own Mosquitto service instead).
#   docker build -f deploy/docker/server.Dockerfile -t tinyfleet-server .
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends mosquitto \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/tinyfleet --create-home tinyfleet
WORKDIR /src
COPY pyproject.toml README.md ./
COPY requirements/lock.txt requirements/lock.txt
COPY tinyfleet tinyfleet
COPY compiler compiler
COPY fleet_server fleet_server
COPY device_agent device_agent
COPY hil hil
COPY firmware firmware
RUN pip install --no-cache-dir -c requirements/lock.txt '.[server]' \
 && python -c "import importlib.util as u; assert u.find_spec('tensorflow') is None" \
 && rm -rf /src
USER tinyfleet
WORKDIR /var/lib/tinyfleet
EXPOSE 8080 1883
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request as r; r.urlopen('http://127.0.0.1:8080/api/v1/health', timeout=2)"
ENTRYPOINT ["tinyfleet", "server"]
CMD ["--host", "0.0.0.0", "--broker-host", "0.0.0.0"]
