# streamapp worker image (used by docker-compose.yml and infra/k8s).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamapp ./streamapp
RUN pip install --no-cache-dir .
COPY topologies ./topologies
COPY schemas ./schemas
ENV STREAMAPP_TOPOLOGIES_DIR=/app/topologies STREAMAPP_SCHEMAS_DIR=/app/schemas
USER nobody
ENTRYPOINT ["streamapp"]
EXPOSE 6066
CMD ["worker"]
