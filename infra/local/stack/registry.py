"""Apicurio Registry 3 (Maven Central zip), Confluent-compatible API, SQL storage on PostgreSQL."""

from __future__ import annotations

import json
import os
import urllib.request
import zipfile

from common import Config, SpawnedService, ensure_port_free, require_tool, run, say, spawn

VERSION = "3.0.9"
ARTIFACT = f"io.apicurio:apicurio-registry-app:{VERSION}:zip:all"


class Registry(SpawnedService):
    name = "registry"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.home = cfg.cache_dir / f"apicurio-registry-{VERSION}"
        self.jar = self.home / f"apicurio-registry-app-{VERSION}-runner.jar"

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.cfg.registry_port}/apis/ccompat/v7"

    def prepare(self) -> None:
        if self.jar.exists():
            return
        require_tool("java", "install OpenJDK 17 (apt-get install -y openjdk-17-jre-headless)")
        mvn = require_tool("mvn", "install Maven (apt-get install -y maven)")
        say(f"resolving Apicurio Registry {VERSION} with Maven (first run only)")
        download = self.cfg.cache_dir / "downloads"
        download.mkdir(parents=True, exist_ok=True)
        run(
            [
                mvn,
                "-q",
                "-B",
                "dependency:copy",
                f"-Dartifact={ARTIFACT}",
                f"-DoutputDirectory={download}",
            ],
            what="mvn resolve Apicurio Registry",
        )
        archive = download / f"apicurio-registry-app-{VERSION}-all.zip"
        tmp = self.home.with_name(self.home.name + ".partial")
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        tmp.rename(self.home)
        archive.unlink()

    def start(self) -> None:
        ensure_port_free(self.cfg.registry_port, self.name, "STREAMAPP_REGISTRY_PORT")
        java = require_tool("java", "install OpenJDK 17")
        env = dict(
            os.environ,
            APICURIO_STORAGE_KIND="sql",
            APICURIO_STORAGE_SQL_KIND="postgresql",
            APICURIO_DATASOURCE_URL=f"jdbc:postgresql://127.0.0.1:{self.cfg.pg_port}/registry",
            APICURIO_DATASOURCE_USERNAME=self.cfg.pg_user,
            APICURIO_DATASOURCE_PASSWORD=self.cfg.pg_password,
            QUARKUS_HTTP_HOST="127.0.0.1",
            QUARKUS_HTTP_PORT=str(self.cfg.registry_port),
            # Tests and `streamapp` tooling delete their own subjects.
            APICURIO_REST_DELETION_ARTIFACT_ENABLED="true",
            APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED="true",
            APICURIO_REST_DELETION_GROUP_ENABLED="true",
        )
        spawn(
            [
                java,
                f"-Xmx{self.cfg.registry_heap}",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-jar",
                str(self.jar),
            ],
            log=self.log,
            pidfile=self.pidfile,
            env_=env,
            cwd=self.home,
        )

    def healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.address}/subjects", timeout=3) as resp:
            return resp.status == 200 and isinstance(json.loads(resp.read()), list)

    def wait(self) -> float:
        took = super().wait()
        # Confluent's default global level; Apicurio starts with NONE.
        request = urllib.request.Request(
            f"{self.address}/config",
            method="PUT",
            data=b'{"compatibility": "BACKWARD"}',
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        )
        with urllib.request.urlopen(request, timeout=5):
            pass
        return took
