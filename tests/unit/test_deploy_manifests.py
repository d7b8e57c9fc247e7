"""infra/k8s and the Grafana dashboard cannot run here: check them structurally."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamapp.observability.metrics import Metrics
from streamapp.settings import FROM_FILE, Settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "infra/k8s"


def docs() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            out[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return out


def test_every_manifest_has_kind_name_and_api_version() -> None:
    found = docs()
    assert {
        "Deployment/streamapp-worker",
        "Service/streamapp-worker",
        "ConfigMap/streamapp-config",
        "ConfigMap/streamapp-topologies",
        "ScaledObject/streamapp-worker",
    } <= set(found)
    assert all("apiVersion" in d for d in found.values())


def test_deployment_probes_ports_and_config_fit_the_worker() -> None:
    found = docs()
    pod = found["Deployment/streamapp-worker"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["worker"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    config = found["ConfigMap/streamapp-config"]["data"]
    assert int(config["STREAMAPP_WEB_PORT"]) == container["ports"][0]["containerPort"]
    assert config["STREAMAPP_WEB_BIND"] == "0.0.0.0"
    # Replicas cannot share an embedded chDB: the ClickHouse sink must be a server.
    assert config["STREAMAPP_CLICKHOUSE_DSN"].startswith("http")
    known = {f.metadata["env"] for f in fields(Settings)} | {f"{e}_FILE" for e in FROM_FILE}
    env = set(config) | {e["name"] for e in container["env"]}
    assert env <= known, env - known
    # every credential comes from a Secret mounted as files, none from a literal or an env ref
    secret_mounts = {
        m["mountPath"]
        for m in container["volumeMounts"]
        if any(v["name"] == m["name"] and "secret" in v for v in pod["volumes"])
    }
    for e in container["env"]:
        assert "valueFrom" not in e, e["name"]
        if e["name"].endswith("_FILE"):
            assert e["value"].rsplit("/", 1)[0] in secret_mounts, e["name"]
    assert {f"{e}_FILE" for e in ("STREAMAPP_WAREHOUSE_DSN", "STREAMAPP_MASK_SECRET")} <= env
    Settings.from_env(config)
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert config["STREAMAPP_TOPOLOGIES_DIR"] in mounts
    selector = found["Service/streamapp-worker"]["spec"]["selector"]
    assert (
        selector.items()
        <= found["Deployment/streamapp-worker"]["spec"]["template"]["metadata"]["labels"].items()
    )


def _metric_names() -> set[str]:
    return {
        collector._name for collector in vars(Metrics()).values() if hasattr(collector, "_name")
    }


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads((REPO / "infra/grafana/streamapp-dashboard.json").read_text())


def test_dashboard_panels_use_only_declared_metrics_and_cover_them_all(
    dashboard: dict[str, Any],
) -> None:
    declared = _metric_names()
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"streamapp_[a-z_]+", target["expr"]):
                base = re.sub(r"_(total|bucket|count|sum)$", "", name)
                assert base in declared, name
                used.add(base)
    assert used == declared


def test_dashboard_is_what_the_generator_writes(dashboard: dict[str, Any]) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_dashboard", REPO / "infra/grafana/make_dashboard.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.dashboard() == dashboard


KAFKA_FILE_SETTINGS = (
    "STREAMAPP_KAFKA_SASL_PASSWORD_FILE",
    "STREAMAPP_KAFKA_SSL_CA_FILE",
    "STREAMAPP_KAFKA_SSL_CERT_FILE",
    "STREAMAPP_KAFKA_SSL_KEY_FILE",
)


def _documented(text: str) -> dict[str, str]:
    """``# SETTING: value`` lines (settings documented but commented out) -> value."""
    found = re.findall(r"#\s*(STREAMAPP_[A-Z_]+):\s*(\S+)", text)
    return dict(found)


def test_kafka_secret_files_are_documented_where_the_secrets_are_mounted() -> None:
    """The ConfigMap points every Kafka secret setting into the Deployment's Secret mount, and
    docker-compose.yml documents the same settings under /run/secrets (where compose mounts)."""
    deployment = docs()["Deployment/streamapp-worker"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    (secret,) = [v for v in volumes if v.get("secret", {}).get("secretName") == "streamapp-kafka"]
    mount = mounts[secret["name"]]
    configmap = _documented((K8S / "configmap.yaml").read_text())
    compose = _documented((REPO / "docker-compose.yml").read_text())
    for setting in KAFKA_FILE_SETTINGS:
        assert configmap[setting].startswith(f"{mount}/"), setting
        assert compose[setting].startswith("/run/secrets/"), setting
