"""The STREAMAPP_NATIVE switch: the C extensions are used unless it says 0."""

from __future__ import annotations

import os

import pytest

from streamapp.native import native_module


@pytest.mark.parametrize("name", ["streamapp.decode._avrorows", "streamapp.encode._avrowrite"])
def test_switch_turns_a_built_extension_off(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMAPP_NATIVE", "1")
    if native_module(name) is None:
        # CI has a compiler: there the extension must have been built by `make venv`
        assert not os.environ.get("CI"), f"{name} was not built; see .venv/install.log"
        pytest.skip(f"{name} is not built here (no C compiler at install time)")
    monkeypatch.setenv("STREAMAPP_NATIVE", "0")
    assert native_module(name) is None


def test_a_missing_extension_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMAPP_NATIVE", raising=False)
    assert native_module("streamapp.decode._no_such_extension") is None
