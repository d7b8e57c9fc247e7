"""`streamapp topology init --from-registry` against the schemas the running `shop` connector
registered, and `streamapp topology validate` on the module it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamapp.settings import Settings

SUBJECT = "shop.public.orders-value"


def _subjects(url: str) -> list[str]:
    with urllib.request.urlopen(f"{url}/subjects", timeout=10) as resp:
        return list(json.load(resp))


def _wait_for_subject(url: str, subject: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while subject not in _subjects(url):
        if time.monotonic() > deadline:
            pytest.fail(f"the shop connector did not register {subject} in {timeout:.0f}s")
        time.sleep(0.5)


@pytest.fixture
def shop_orders_subject(stack: Settings, pg_source: Any) -> Iterator[str]:
    """The connector registers a table's subjects with its first event: make sure there was
    one, with a test order (status 'test', which the shop's topologies drop) removed after."""
    note = f"topology init test {uuid.uuid4().hex[:8]}"
    row = pg_source.execute(
        "INSERT INTO public.orders (status, total, currency, items, placed_at, notes) "
        "VALUES ('test', 1.25, 'EUR', '[]', now(), %s) RETURNING id",
        (note,),
    ).fetchone()
    try:
        _wait_for_subject(stack.registry_url, SUBJECT)
        yield SUBJECT
    finally:
        pg_source.execute("DELETE FROM public.orders WHERE id = %s", (row[0],))


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamapp", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_init_writes_the_columns_of_the_registry_subject(
    stack: Settings, shop_orders_subject: str, tmp_path: Path
) -> None:
    topologies = tmp_path / "topologies"
    topologies.mkdir()
    env = {"STREAMAPP_TOPOLOGIES_DIR": str(topologies)}
    done = _cli("topology", "init", "shop_orders", "--from-registry", shop_orders_subject, env=env)
    assert done.returncode == 0, done.stderr
    module = topologies / "shop_orders.py"
    assert module.is_file(), done.stdout

    namespace: dict[str, Any] = {}
    exec(compile(module.read_text(), str(module), "exec"), namespace)
    top = namespace["topology"]
    assert top.source.topic == "shop.public.orders"
    assert dict(top.source.columns) == {
        "id": "int",
        "customer_id": "int",
        "status": "string",
        "total": "decimal(12,2)",
        "currency": "string",
        "items": "json",
        "shipping": "json",
        "placed_at": "timestamptz",
        "notes": "string",
    }
    assert top.key == ("id",)  # from shop.public.orders-key

    valid = _cli("topology", "validate", env=env)
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.strip() == "1 topology valid"

    again = _cli("topology", "init", "shop_orders", "--from-registry", shop_orders_subject, env=env)
    assert again.returncode == 2 and "exists" in again.stderr  # never overwrites


def test_init_refuses_a_subject_the_registry_does_not_have(stack: Settings, tmp_path: Path) -> None:
    out = tmp_path / "hb.py"
    done = _cli(
        "topology",
        "init",
        "hb",
        "--from-registry",
        f"nosuch_{uuid.uuid4().hex[:8]}.public.t-value",
        "--out",
        str(out),
        env={},
    )
    assert done.returncode == 2
    assert "has no version in the registry" in done.stderr
    assert not out.exists()
