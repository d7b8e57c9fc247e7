"""`streamapp topology validate --connect` against the stack's running connector `shop`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from streamapp.settings import Settings

REPO = Path(__file__).resolve().parents[3]
MODULE = """
from streamapp.topology import Source, Topology

topology = Topology(
    name="{name}",
    source=Source(topic="{topic}", columns={{"id": "int", "email": "string"}}{handling}),
    key=["id"],
)
"""


def validate(
    stack: Settings, tmp_path: Path, modules: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    tops = tmp_path / "topologies"
    tops.mkdir()
    for name, text in modules.items():
        (tops / f"{name}.py").write_text(text)
    env = {
        **os.environ,
        "STREAMAPP_TOPOLOGIES_DIR": str(tops),
        "STREAMAPP_CONNECT_URL": stack.connect_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "streamapp", "topology", "validate", "--connect"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def module(name: str, topic: str, handling: str = "") -> str:
    return MODULE.format(
        name=name, topic=topic, handling=f", handling={handling}" if handling else ""
    )


def test_matching_modes_pass(stack: Settings, tmp_path: Path) -> None:
    done = validate(
        stack,
        tmp_path,
        {"ok": module("ok", "shop.public.customers", '{"decimal.handling.mode": "precise"}')},
    )
    assert done.returncode == 0, done.stderr
    assert "ok: handling modes match connector shop (decimal.handling.mode=precise, " in done.stdout


def test_a_mode_the_connector_does_not_run_and_a_topic_nobody_writes_fail(
    stack: Settings, tmp_path: Path
) -> None:
    done = validate(
        stack,
        tmp_path,
        {
            "strmode": module(
                "strmode", "shop.public.orders", '{"decimal.handling.mode": "string"}'
            ),
            "orphan": module("orphan", "nowhere.public.orders"),
        },
    )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert (
        "topology 'strmode', connector 'shop': decimal.handling.mode: the topology reads string, "
        "the connector writes precise; declare Source(handling={'decimal.handling.mode': "
        "'precise'}) or change the connector"
    ) in lines
    assert any(
        line.startswith("topology 'orphan': no connector at ") and "'nowhere.public.orders'" in line
        for line in lines
    ), lines


def test_an_unknown_mode_is_a_validation_problem(stack: Settings, tmp_path: Path) -> None:
    done = validate(
        stack,
        tmp_path,
        {"bad": module("bad", "shop.public.orders", '{"time.precision.mode": "seconds"}')},
    )
    assert done.returncode == 2
    assert "time.precision.mode='seconds' is not one of adaptive, " in done.stderr + done.stdout
