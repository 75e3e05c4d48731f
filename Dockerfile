# qoswatch container image.
#
#   docker build -t qoswatch .
#   docker run -d --name qoswatch --env-file qoswatch.env -p 9464:9464 \
#     -v qoswatch-state:/var/lib/qoswatch --stop-timeout 20 qoswatch
#
# qoswatch.env holds ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET,
# SLACK_WEBHOOK_URL and TEAMS_WEBHOOK_URL (see deploy/qoswatch.yaml). Mount
# your own config over /etc/qoswatch/qoswatch.yaml and your own rules over
# /etc/qoswatch/rules to replace the defaults baked in here.
#
# On SIGTERM qoswatch flushes pending deliveries for up to 10 s: give it a
# stop timeout above that (docker run --stop-timeout 20, compose
# stop_grace_period: 20s); Docker's default of 10 s can cut the flush short.

# ---- build ------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src
# The whole context (see .dockerignore: no target/, no .git/).
COPY . .
RUN cargo build --release --locked

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim

# ca-certificates: TLS to Zoom, Slack and Teams is verified against the system
# roots. curl: the HEALTHCHECK below (the slim image has no HTTP client).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

# A fixed non-root uid/gid, so Kubernetes runAsNonRoot/fsGroup can match it.
RUN groupadd --gid 10001 qoswatch \
 && useradd --uid 10001 --gid 10001 --no-create-home \
      --home-dir /var/lib/qoswatch --shell /usr/sbin/nologin qoswatch \
 && mkdir -p /etc/qoswatch /var/lib/qoswatch \
 && chown 10001:10001 /var/lib/qoswatch \
 && chmod 0750 /var/lib/qoswatch

COPY --from=builder /src/target/release/qoswatch /usr/local/bin/qoswatch
# Config and rules stay root-owned and read-only for the service.
COPY rules/ /etc/qoswatch/rules/
COPY deploy/qoswatch.yaml /etc/qoswatch/qoswatch.yaml

USER 10001:10001
WORKDIR /var/lib/qoswatch
# Alert state and the delivery outbox: keep them across container restarts.
VOLUME ["/var/lib/qoswatch"]

# /healthz, /readyz, /metrics, /api/alerts; the config listens on 0.0.0.0:9464.
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:9464/healthz || exit 1

ENTRYPOINT ["qoswatch"]
CMD ["run", "-c", "/etc/qoswatch/qoswatch.yaml"]
