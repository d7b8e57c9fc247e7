"""An S3-compatible object store: S3Proxy over a directory, for Iceberg warehouses on s3://.

Started by ``up`` with the other services (``up s3`` starts it alone). S3Proxy's jars are resolved
with Maven from ``infra/local/s3/pom.xml`` into ``<cache>/s3proxy-<version>/libs-<digest of the
pom>``; the process is ``java -cp <libs>/* org.gaul.s3proxy.Main --properties <conf>`` on
loopback, its objects under ``<stack>/data/s3/blobs`` (jclouds' filesystem-nio2 store: a bucket is
a directory), requests authenticated with AWS signature V2 or V4 for one access key
(STREAMAPP_S3_ACCESS_KEY / STREAMAPP_S3_SECRET_KEY). ``up`` creates the bucket STREAMAPP_S3_BUCKET.

S3Proxy does not take uploads in ``aws-chunked`` encoding with a trailing checksum, which recent
AWS SDKs send by default (pyarrow's among them): its clients set
``AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED``, as for other S3-compatible stores that lack it.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid

from common import (
    REPO,
    Config,
    FingerprintedService,
    ensure_port_free,
    env,
    require_tool,
    spawn,
)
from kafka import pom_digest, resolve_jars

HERE = REPO / "infra/local/s3"
POM = HERE / "pom.xml"
LOGBACK = HERE / "logback.xml"
S3PROXY_VERSION = "3.0.0"  # keep in step with the pom
REGION = "us-east-1"
READY_PREFIX = "streamapp-stack-ready/"
JAVA_HINT = "install OpenJDK 17 (apt-get install -y openjdk-17-jre-headless)"


def sigv4_headers(
    method: str, url: str, body: bytes, access_key: str, secret_key: str, region: str = REGION
) -> dict[str, str]:
    """The headers that sign one request with AWS signature version 4 (service s3)."""
    parts = urllib.parse.urlsplit(url)
    now = datetime.datetime.now(datetime.UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(body).hexdigest()
    headers = {"host": parts.netloc, "x-amz-content-sha256": payload, "x-amz-date": stamp}
    query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    )
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [
            method,
            urllib.parse.quote(parts.path or "/", safe="/-_.~"),
            query,
            "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
            signed,
            payload,
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, "
        f"Signature={signature}"
    )
    del headers["host"]  # urllib sends it
    return headers


class S3(FingerprintedService):
    """The object store; ``healthy`` is a real round trip: create the bucket when missing, then
    PUT, GET and DELETE an object READY_PREFIX + random hex, signed with the stack's key."""

    name = "s3"
    stop_grace = 15.0

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.port = cfg.s3_port
        self.heap = env("STREAMAPP_S3_HEAP", "256m")
        self.access_key = env("STREAMAPP_S3_ACCESS_KEY", "streamapp")
        self.secret_key = env("STREAMAPP_S3_SECRET_KEY", "streamapp-secret")
        self.bucket = env("STREAMAPP_S3_BUCKET", "lake")
        self.data = cfg.data(self.name)
        self.blobs = self.data / "blobs"
        self.conf = self.data / "s3proxy.conf"
        self.libs = cfg.cache_dir / f"s3proxy-{S3PROXY_VERSION}" / f"libs-{pom_digest(POM)}"

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port} (bucket {self.bucket})"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def prepare(self) -> None:
        resolve_jars(self.cfg, POM, self.libs, f"S3Proxy {S3PROXY_VERSION}")
        self.blobs.mkdir(parents=True, exist_ok=True)
        (self.data / "tmp").mkdir(exist_ok=True)

    def properties(self) -> str:
        return "\n".join(
            [
                "# written by infra/local/stack (streamapp local stack)",
                f"s3proxy.endpoint=http://127.0.0.1:{self.port}",
                "s3proxy.authorization=aws-v2-or-v4",
                f"s3proxy.identity={self.access_key}",
                f"s3proxy.credential={self.secret_key}",
                "jclouds.provider=filesystem-nio2",
                f"jclouds.filesystem.basedir={self.blobs}",
                # the blob store's own login, which a local directory does not check
                "jclouds.identity=local",
                "jclouds.credential=local",
                "",
            ]
        )

    def fingerprint(self) -> str:
        """What the server runs with (the key as a digest): a change restarts it on ``up``."""
        return json.dumps(
            {
                "libs": str(self.libs),
                "logback": LOGBACK.read_text(),
                "heap": self.heap,
                "properties": hashlib.sha256(self.properties().encode()).hexdigest(),
            },
            sort_keys=True,
        )

    def start(self) -> None:
        ensure_port_free(self.port, self.name, "STREAMAPP_S3_PORT")
        java = require_tool("java", JAVA_HINT)
        # the secret key is in this file: readable by its owner only
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.properties())
        self.record_start()
        spawn(
            [
                java,
                f"-Xmx{self.heap}",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Djava.awt.headless=true",
                f"-Djava.io.tmpdir={self.data / 'tmp'}",
                f"-Dlogback.configurationFile={LOGBACK}",
                "-cp",
                f"{self.libs}/*",
                "org.gaul.s3proxy.Main",
                "--properties",
                str(self.conf),
            ],
            log=self.log,
            pidfile=self.pidfile,
        )

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """One signed request; (status, body), an HTTP error status included."""
        url = f"{self.endpoint}{path}"
        headers = sigv4_headers(method, url, body, self.access_key, self.secret_key)
        req = urllib.request.Request(url, data=body or None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def healthy(self) -> bool:
        status, _ = self.request("PUT", f"/{self.bucket}")
        if status not in (200, 409):  # 409: BucketAlreadyOwnedByYou
            return False
        key = f"/{self.bucket}/{READY_PREFIX}{uuid.uuid4().hex[:12]}"
        body = uuid.uuid4().bytes
        try:
            if self.request("PUT", key, body)[0] != 200:
                return False
            return self.request("GET", key) == (200, body)
        finally:
            self.request("DELETE", key)
