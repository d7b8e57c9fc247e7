"""Run Prometheus's promtool, built once from its Go module into the stack's cache.

    python3 infra/prometheus/promtool.py check rules infra/prometheus/alerts.yml
    python3 infra/prometheus/promtool.py --install    # build it if missing, print its path
    python3 infra/prometheus/promtool.py --installed  # its path, or exit 1 when not built

The binary lives in ``$STREAMAPP_CACHE_DIR/promtool-<version>/`` (default ``~/.cache/streamapp``,
like the stack's Kafka and Maven downloads), never in the repository; the first build takes a
few minutes (7 to 10 on two busy cores) and needs Go (``go install`` through the Go module
proxy); its module and build caches are removed afterwards, and later runs are instant.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

VERSION = "v0.316.0"  # the Go module's tag of Prometheus 3.16
MODULE = "github.com/prometheus/prometheus/cmd/promtool"


def cache_dir() -> Path:
    return Path(os.environ.get("STREAMAPP_CACHE_DIR") or Path.home() / ".cache/streamapp")


def binary() -> Path:
    """Where the pinned promtool is (or will be) installed."""
    return cache_dir() / f"promtool-{VERSION}" / "promtool"


def install() -> Path:
    """The promtool binary, built with ``go install`` when it is not there yet."""
    target = binary()
    if target.is_file():
        return target
    go = shutil.which("go")
    if go is None:
        sys.exit(
            "promtool.py: promtool needs Go to build once; install it (apt-get install golang)"
        )
    gopath = cache_dir() / "go"
    env = dict(
        os.environ,
        GOPATH=str(gopath),
        GOMODCACHE=str(gopath / "pkg" / "mod"),
        GOCACHE=str(gopath / "build"),
        GOBIN=str(target.parent),
        GOFLAGS="-mod=mod",
        GOTOOLCHAIN="local",
    )
    print(
        f"building promtool {VERSION} into {target.parent} (once; 7 to 10 minutes)", file=sys.stderr
    )
    started = time.monotonic()
    done = subprocess.run([go, "install", f"{MODULE}@{VERSION}"], env=env, check=False)
    if done.returncode != 0 or not target.is_file():
        sys.exit(f"promtool.py: go install {MODULE}@{VERSION} failed (exit {done.returncode})")
    print(f"built promtool in {time.monotonic() - started:.0f} s", file=sys.stderr)
    # the module and build caches (~3.5 GB) served this one build: the binary is all we keep
    subprocess.run([go, "clean", "-modcache", "-cache"], env=env, check=False)
    return target


def main(argv: list[str]) -> int:
    if argv[:1] == ["--installed"]:  # the path when built, else exit 1 (never builds)
        if not binary().is_file():
            print(f"no promtool at {binary()}", file=sys.stderr)
            return 1
        print(binary())
        return 0
    path = install()
    if argv[:1] == ["--install"]:
        print(path)
        return 0
    return subprocess.run([str(path), *argv], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
