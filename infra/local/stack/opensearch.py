"""OpenSearch 2.19 single node (no security plugin, loopback only) from Maven Central artifacts.

Started by ``up`` with the other services (``up opensearch`` starts it alone). The node is
the integ-test distribution zip (server jars in ``lib/``, module transport-netty4) unpacked into
``<cache>/opensearch-<version>/home-<digest of the pom>``, plus modules the zip lacks, laid out as
``modules/<name>/`` from their Maven jars with a generated ``plugin-descriptor.properties``.
It runs as ``java -cp <home>/lib/* org.opensearch.bootstrap.OpenSearch`` (what ``bin/opensearch``
runs) with its config, data and keystore in ``<stack>/data/opensearch`` and its log in
``<stack>/logs/opensearch.log``. JNA's native library is kept from loading (``jna.nosys``,
``jna.noclasspath``): OpenSearch then cannot tell it runs as root, which it refuses, and does
without memory locking and the system call filter, neither of which a local stack needs.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    REPO,
    Config,
    SpawnedService,
    StackError,
    ensure_port_free,
    env,
    require_tool,
    spawn,
)
from kafka import pom_digest, resolve_jars

HERE = REPO / "infra/local/opensearch"
POM = HERE / "pom.xml"
OPENSEARCH_VERSION = "2.19.6"  # keep in step with opensearch.version in the pom
READY_INDEX = "streamapp-stack-ready"
JAVA_HINT = "install OpenJDK 17 (apt-get install -y openjdk-17-jre-headless)"

NODE_SETTINGS = """# written by infra/local/stack (streamapp local stack); home {home}
cluster.name: streamapp-stack
node.name: stack
discovery.type: single-node
network.host: 127.0.0.1
http.port: {port}
transport.port: {transport_port}
path.data: {data}
path.logs: {logs}
# a nearly full disk of a dev machine must not turn every index read-only
cluster.routing.allocation.disk.threshold_enabled: false
"""


@dataclass(frozen=True, slots=True)
class Module:
    """A module the distribution zip lacks: its plugin class, the artifacts whose jars go into
    ``modules/<name>/``, the modules it extends and its security policy (if it needs one)."""

    name: str
    classname: str
    artifacts: tuple[str, ...]
    extends: tuple[str, ...] = ()
    policy: str = ""


PAINLESS_POLICY = """grant {
  permission java.lang.RuntimePermission "createClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
};
"""
MODULES = (
    Module("mapper-extras", "org.opensearch.index.mapper.MapperExtrasPlugin",
           ("mapper-extras-client",)),
    Module("lang-painless", "org.opensearch.painless.PainlessPlugin",
           ("lang-painless", "opensearch-scripting-painless-spi", "antlr4-runtime", "asm",
            "asm-analysis", "asm-commons", "asm-tree", "asm-util"),
           policy=PAINLESS_POLICY),
    Module("analysis-common", "org.opensearch.analysis.common.CommonAnalysisPlugin",
           ("analysis-common",), extends=("lang-painless",)),
)  # fmt: skip


def descriptor(module: Module, version: str) -> str:
    """The ``plugin-descriptor.properties`` OpenSearch ``version`` reads for ``module``."""
    return (
        f"description={module.name} module (laid out by the streamapp local stack)\n"
        f"version={version}\n"
        f"name={module.name}\n"
        f"classname={module.classname}\n"
        "java.version=11\n"
        f"opensearch.version={version}\n"
        f"extended.plugins={','.join(module.extends)}\n"
        "has.native.controller=false\n"
    )


def module_files(module: Module, files: Iterable[str]) -> list[str]:
    """The jar file names (``<artifact>-<version>.jar``) among ``files`` that belong to ``module``;
    ``asm`` takes ``asm-9.7.jar`` and not ``asm-util-9.7.jar``. Fails naming a missing artifact."""
    chosen = []
    names = sorted(files)
    for artifact in module.artifacts:
        found = [
            f
            for f in names
            if f.endswith(".jar")
            and f.startswith(f"{artifact}-")
            and f[len(artifact) + 1 : len(artifact) + 2].isdigit()
        ]
        if len(found) != 1:
            raise StackError(
                f"OpenSearch module {module.name} needs one jar of {artifact}, found "
                f"{found or 'none'}; check {POM.relative_to(REPO)} (or delete the cache to resolve)"
            )
        chosen += found
    return chosen


def layout_home(artifacts: Path, home: Path) -> Path:
    """Unpack the distribution zip from ``artifacts`` into ``home`` and add MODULES (once)."""
    if (home / ".complete").exists():
        return home
    archive = artifacts / f"opensearch-{OPENSEARCH_VERSION}.zip"
    if not archive.exists():
        raise StackError(f"{archive} is missing; delete {artifacts} to resolve it again")
    work = home.with_name(home.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(work)
    top = work / f"opensearch-{OPENSEARCH_VERSION}"
    jars = [p.name for p in artifacts.iterdir()]
    for module in MODULES:
        folder = top / "modules" / module.name
        folder.mkdir(parents=True)
        for name in module_files(module, jars):
            shutil.copy2(artifacts / name, folder / name)
        (folder / "plugin-descriptor.properties").write_text(descriptor(module, OPENSEARCH_VERSION))
        if module.policy:
            (folder / "plugin-security.policy").write_text(module.policy)
    shutil.rmtree(home, ignore_errors=True)
    top.rename(home)
    shutil.rmtree(work)
    (home / ".complete").write_text("ok\n")
    return home


class OpenSearch(SpawnedService):
    """The node; ``healthy`` is a real round trip: index a document into READY_INDEX with
    ``refresh=true`` and find it by a search on its random token."""

    name = "opensearch"
    stop_grace = 30.0

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.port = int(env("STREAMAPP_OPENSEARCH_PORT", "19200"))
        self.transport_port = int(env("STREAMAPP_OPENSEARCH_TRANSPORT_PORT", "19300"))
        self.heap = env("STREAMAPP_OPENSEARCH_HEAP", "512m")
        self.data = cfg.data(self.name)
        self.config = self.data / "config"
        cache = cfg.cache_dir / f"opensearch-{OPENSEARCH_VERSION}"
        self.artifacts = cache / f"artifacts-{pom_digest(POM)}"
        self.home = cache / f"home-{pom_digest(POM)}"
        self.yml = self.config / "opensearch.yml"
        self.started_yml = self.config / "opensearch.yml.started"

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def prepare(self) -> None:
        resolve_jars(self.cfg, POM, self.artifacts, f"OpenSearch {OPENSEARCH_VERSION}")
        layout_home(self.artifacts, self.home)
        self.config.mkdir(parents=True, exist_ok=True)
        (self.data / "tmp").mkdir(exist_ok=True)
        shutil.copyfile(HERE / "log4j2.properties", self.config / "log4j2.properties")
        self.yml.write_text(
            NODE_SETTINGS.format(
                home=self.home,
                port=self.port,
                transport_port=self.transport_port,
                data=self.data / "nodes",
                logs=self.cfg.state_dir / "logs",
            )
        )

    def start(self) -> None:
        ensure_port_free(self.port, self.name, "STREAMAPP_OPENSEARCH_PORT")
        ensure_port_free(
            self.transport_port, "opensearch transport", "STREAMAPP_OPENSEARCH_TRANSPORT_PORT"
        )
        java = require_tool("java", JAVA_HINT)
        self.started_yml.write_text(self.yml.read_text())
        spawn(
            [
                java,
                f"-Xms{self.heap}",
                f"-Xmx{self.heap}",
                "-XX:+UseG1GC",
                "-XX:TieredStopAtLevel=1",
                "-Djava.awt.headless=true",
                "-Dfile.encoding=UTF-8",
                f"-Djava.io.tmpdir={self.data / 'tmp'}",
                "-Djna.nosys=true",
                "-Djna.noclasspath=true",
                "-Dio.netty.noUnsafe=true",
                "-Dio.netty.noKeySetOptimization=true",
                "-Dio.netty.recycler.maxCapacityPerThread=0",
                "-Dlog4j.shutdownHookEnabled=false",
                "-Dlog4j2.disable.jmx=true",
                "-Djava.util.concurrent.ForkJoinPool.common.threadFactory="
                "org.opensearch.secure_sm.SecuredForkJoinWorkerThreadFactory",
                f"-Dopensearch.path.home={self.home}",
                f"-Dopensearch.path.conf={self.config}",
                "-Dopensearch.distribution.type=tar",
                "-Dopensearch.bundled_jdk=false",
                "-cp",
                f"{self.home}/lib/*",
                "org.opensearch.bootstrap.OpenSearch",
            ],
            log=self.cfg.state_dir / "logs" / "opensearch.stdout.log",
            pidfile=self.pidfile,
        )

    def outdated(self) -> str | None:
        """Why the running node must be restarted: other settings or jars than ``prepare``
        wrote (e.g. an edited pom), else None."""
        started = self.started_yml.read_text() if self.started_yml.exists() else ""
        if started != self.yml.read_text():
            return "runs with an older opensearch.yml or other jars"
        return None

    def rest(self, method: str, path: str, body: Any = None) -> Any:
        """One call to the node's REST API; the parsed JSON answer."""
        request = urllib.request.Request(
            f"{self.address}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read() or b"null")

    def healthy(self) -> bool:
        settings = {"number_of_shards": 1, "number_of_replicas": 0}
        try:
            self.rest("PUT", f"/{READY_INDEX}", {"settings": settings})
        except urllib.error.HTTPError as exc:
            if exc.code != 400 or b"resource_already_exists" not in exc.read():
                raise
        token = uuid.uuid4().hex
        self.rest("PUT", f"/{READY_INDEX}/_doc/probe?refresh=true", {"token": token})
        found = self.rest("GET", f"/{READY_INDEX}/_search?q=token:{token}")
        return int(found["hits"]["total"]["value"]) == 1
