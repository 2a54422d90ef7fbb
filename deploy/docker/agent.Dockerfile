# tinyfleet edge agent: the `agent` extra (LiteRT, no TensorFlow). Multi-arch: LiteRT publishes wheels
# for linux/amd64 and linux/arm64 (no 32-bit ARM), so build with
#   docker buildx build --platform linux/amd64,linux/arm64 -f deploy/docker/agent.Dockerfile -t tinyfleet-agent .
# Mount the agent.toml (with its secret and the fleet's public key) at /etc/tinyfleet and the state
# folder at /var/lib/tinyfleet; pass --device=/dev/ttyACM0 for MCUs behind a gateway.
FROM python:3.11-slim-bookworm
ARG TARGETARCH
RUN case "${TARGETARCH:-amd64}" in amd64|arm64) ;; *) echo "LiteRT has no wheels for ${TARGETARCH}" >&2; exit 1;; esac \
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
RUN pip install --no-cache-dir -c requirements/lock.txt '.[agent]' \
 && python -c "import importlib.util as u; assert u.find_spec('tensorflow') is None" \
 && rm -rf /src
USER tinyfleet
WORKDIR /var/lib/tinyfleet
EXPOSE 8701
ENTRYPOINT ["tinyfleet", "agent", "run"]
CMD ["--config", "/etc/tinyfleet/agent.toml"]
