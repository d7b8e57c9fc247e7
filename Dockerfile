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
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY topologies ./topologies
COPY schemas ./schemas
ENV STREAMAPP_TOPOLOGIES_DIR=/app/topologies STREAMAPP_SCHEMAS_DIR=/app/schemas
USER nobody
ENTRYPOINT ["streamapp"]
EXPOSE 6066
CMD ["worker"]
