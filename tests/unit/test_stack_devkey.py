"""The local stack's dev mask key: random, generated once, private, kept; read by the local
profile (no repository constant keys a mask)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from streamapp.settings import Settings

STACK = Path(__file__).resolve().parents[2] / "infra" / "local" / "stack"
SCRIPT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from common import Config; from devkey import ensure_mask_dev_key; "
    "print(ensure_mask_dev_key(Config.from_env()))"
)


def ensure(state_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the stack's ensure_mask_dev_key as `make up` does (stdlib Python, its own process)."""
    env = dict(os.environ, STREAMAPP_STACK_DIR=str(state_dir))
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(STACK)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_up_generates_a_private_random_key_once_and_keeps_it(tmp_path: Path) -> None:
    first = ensure(tmp_path / "a")
    path = tmp_path / "a" / "mask-dev.key"
    assert "generated the dev mask key" in first.stdout
    key = path.read_text()
    assert len(bytes.fromhex(key.strip())) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = ensure(tmp_path / "a")  # `make down` + `make up`: same stack, same key
    assert "generated" not in again.stdout and path.read_text() == key
    ensure(tmp_path / "b")  # another stack: another key
    assert (tmp_path / "b" / "mask-dev.key").read_text() != key
    assert not [p for p in (tmp_path / "a").iterdir() if p.name != "mask-dev.key"]


def test_the_local_profile_keys_masks_with_the_generated_key(tmp_path: Path) -> None:
    ensure(tmp_path)
    path = tmp_path / "mask-dev.key"
    env = {"STREAMAPP_MASK_DEV_KEY_FILE": str(path)}
    secrets = Settings.from_env(env).mask_secrets(env)
    assert secrets["default"] == bytes.fromhex(path.read_text().strip())
