"""The local stack's dev mask key: 32 random bytes, generated once per stack, kept across restarts.

streamapp's ``local`` profile keys hmac_sha256/tokenize masks with it when STREAMAPP_MASK_SECRET
is unset (setting STREAMAPP_MASK_DEV_KEY_FILE, default ``.stack/mask-dev.key``), so no key is
ever a constant from the repository, and masked values stay the same across `make down`/`up`
until `make clean-stack` deletes the stack (and with it every masked value stored).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from common import Config, say

FILE = "mask-dev.key"


def ensure_mask_dev_key(cfg: Config) -> Path:
    """The stack's dev key file, created (mode 0600, 64 hex digits) when it does not exist.

    Written to a temporary file and linked into place, so a concurrent `up` or a reading
    worker never sees a partial key, and an existing key is never replaced.
    """
    path = cfg.state_dir / FILE
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path  # another `up` was first: keep its key
    finally:
        tmp.unlink(missing_ok=True)
    say(f"generated the dev mask key {path} (keys hmac_sha256/tokenize masks in the local profile)")
    return path
