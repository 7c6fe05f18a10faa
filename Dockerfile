# The long-connection connector (`botgate connect`) as a container: for a VM, ECS/Fargate
# or Kubernetes (deploy/k8s/connector.yaml). Lambda cannot hold a WebSocket open between
# invocations, so the connector runs here; the Lambda functions do everything else.
#
#   docker build -t botgate .
#   docker run --rm -e BOTGATE_CONFIG_URI=s3://<bucket>/botgate.yaml -e AWS_REGION=... \
#     -e BOTGATE_TABLE=... -e BOTGATE_QUEUE_URL=... -e BOTGATE_DLQ_URL=... botgate
#
# The image holds the whole `botgate` command line (`docker run botgate serve ...`,
# `botgate doctor ...` work too); its default command is the connector with JSON logs.

FROM rust:1.94-bookworm AS build
WORKDIR /src
COPY . .
# The release profile the Lambda functions ship with (fat LTO, opt-level s, stripped).
RUN cargo build --release --locked -p botgate-cli \
 && install -m 0755 target/release/botgate /usr/local/bin/botgate

# glibc, CA certificates and a non-root user (65532), nothing else: no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/botgate /usr/local/bin/botgate
USER nonroot:nonroot
# SIGTERM: stop reading, acknowledge what is being queued (connector.shutdown_grace_ms), close.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/botgate"]
CMD ["connect", "--json"]
