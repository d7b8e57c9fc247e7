"""The local stack's OpenSearch: module descriptors and the jars laid out into each module."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
from stack_scripts import STACK, load

# what `mvn dependency:copy-dependencies` leaves for infra/local/opensearch/pom.xml
RESOLVED = [
    "analysis-common-2.19.6.jar", "antlr4-runtime-4.13.1.jar", "asm-9.7.jar",
    "asm-analysis-9.7.jar", "asm-commons-9.7.jar", "asm-tree-9.7.jar", "asm-util-9.7.jar",
    "lang-painless-2.19.6.jar", "mapper-extras-client-2.19.6.jar", "opensearch-2.19.6.zip",
    "opensearch-scripting-painless-spi-2.19.6.jar",
]  # fmt: skip


@pytest.fixture(scope="module")
def opensearch() -> Iterator[ModuleType]:
    """infra/local/stack/opensearch.py with the script directory's modules lent for the import."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("common", "kafkasasl", "certs"):
            load(mp, name, STACK / f"{name}.py")
        load(mp, "kafka", STACK / "kafka.py")
        yield load(mp, "stack_opensearch", STACK / "opensearch.py")


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_descriptors_name_the_plugin_class_version_and_extended_modules(
    opensearch: ModuleType,
) -> None:
    modules = {m.name: m for m in opensearch.MODULES}
    common = properties(opensearch.descriptor(modules["analysis-common"], "2.19.6"))
    assert common["name"] == "analysis-common"
    assert common["classname"] == "org.opensearch.analysis.common.CommonAnalysisPlugin"
    assert common["version"] == common["opensearch.version"] == "2.19.6"
    assert common["extended.plugins"] == "lang-painless"
    extras = properties(opensearch.descriptor(modules["mapper-extras"], "2.19.6"))
    assert extras["extended.plugins"] == ""
    assert extras["has.native.controller"] == "false"
    assert {"description", "java.version"} <= set(extras)


def test_each_module_takes_exactly_its_own_jars(opensearch: ModuleType) -> None:
    """``asm`` must not also take ``asm-util-9.7.jar``, and no jar goes to two modules."""
    chosen = {m.name: opensearch.module_files(m, RESOLVED) for m in opensearch.MODULES}
    assert chosen["mapper-extras"] == ["mapper-extras-client-2.19.6.jar"]
    assert chosen["lang-painless"][:4] == [
        "lang-painless-2.19.6.jar", "opensearch-scripting-painless-spi-2.19.6.jar",
        "antlr4-runtime-4.13.1.jar", "asm-9.7.jar",
    ]  # fmt: skip
    assert len(chosen["lang-painless"]) == 8
    flat = [f for files in chosen.values() for f in files]
    assert sorted(flat) == sorted(f for f in RESOLVED if f.endswith(".jar"))


def test_a_missing_artifact_is_named(opensearch: ModuleType) -> None:
    painless = next(m for m in opensearch.MODULES if m.name == "lang-painless")
    with pytest.raises(sys.modules["common"].StackError, match="asm-tree"):
        opensearch.module_files(painless, [f for f in RESOLVED if not f.startswith("asm-tree")])


def test_the_pom_resolves_the_version_the_script_lays_out(opensearch: ModuleType) -> None:
    version = re.search(r"<opensearch.version>(.+?)<", opensearch.POM.read_text())
    assert version is not None and version.group(1) == opensearch.OPENSEARCH_VERSION
