# streamapp worker image (used by docker-compose.yml and infra/k8s).
# Build stage: compiles the optional native Avro reader and writer (streamapp/decode/_avrorows.c,
# streamapp/encode/_avrowrite.c) into a wheel; the runtime image gets the wheel only, no compiler.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY streamapp ./streamapp
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
# Optional parts (pyproject's extras): RocksDB state, the OpenSearch and Iceberg sinks, MySQL
# reconcile; e.g. --build-arg STREAMAPP_EXTRAS=state for a smaller image without the two sinks.
ARG STREAMAPP_EXTRAS=state,opensearch,iceberg
WORKDIR /app
COPY --from=build /wheels /wheels
RUN wheel="$(ls /wheels/*.whl)" \
    && pip install --no-cache-dir "${wheel}${STREAMAPP_EXTRAS:+[$STREAMAPP_EXTRAS]}" \
    && rm -rf /wheels
COPY topologies ./topologies
COPY schemas ./schemas
ENV STREAMAPP_TOPOLOGIES_DIR=/app/topologies STREAMAPP_SCHEMAS_DIR=/app/schemas
# Connections are configured at run time, never baked in (README "Connecting to a managed Kafka"
# and "TLS to the sinks"); mount credentials as files and point the *_FILE settings at them:
#   Kafka:     STREAMAPP_KAFKA_BOOTSTRAP, STREAMAPP_KAFKA_SECURITY_PROTOCOL, STREAMAPP_KAFKA_SASL_MECHANISM,
#              STREAMAPP_KAFKA_SASL_USERNAME, STREAMAPP_KAFKA_SASL_PASSWORD_FILE, STREAMAPP_KAFKA_SSL_CA_FILE,
#              STREAMAPP_KAFKA_SSL_CERT_FILE + STREAMAPP_KAFKA_SSL_KEY_FILE (mTLS), STREAMAPP_KAFKA_PROPERTIES
#   registry:  STREAMAPP_REGISTRY_URL, STREAMAPP_REGISTRY_USER_INFO_FILE or _BEARER_TOKEN_FILE, _CA_FILE
#   Connect:   STREAMAPP_CONNECT_URL, STREAMAPP_CONNECT_USER_INFO_FILE, STREAMAPP_CONNECT_CA_FILE
#   sinks:     STREAMAPP_WAREHOUSE_DSN_FILE, STREAMAPP_REDIS_URL_FILE + STREAMAPP_REDIS_CA_FILE,
#              STREAMAPP_CLICKHOUSE_DSN_FILE + STREAMAPP_CLICKHOUSE_CA_FILE, STREAMAPP_SOURCE_DSN_FILE
#   masks/DLQ: STREAMAPP_MASK_SECRET_FILE, STREAMAPP_DLQ_KEY_FILE
USER nobody
ENTRYPOINT ["streamapp"]
EXPOSE 6066
CMD ["worker"]
