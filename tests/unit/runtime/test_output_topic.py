"""A topology without an Output has no output topic: no schema registered, no encoder made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamapp.runtime.worker import make_encoder
from streamapp.topology import Output, Sink, Source, Topology
from streamapp.transform.compile import compile_topology

SOURCE = Source("shop.public.things", {"id": "int", "name": "string"})


class Registry:
    """Records what is registered; schema ids count up."""

    def __init__(self) -> None:
        self.subjects: list[str] = []

    def register(self, subject: str, schema: Any) -> int:
        self.subjects.append(subject)
        return len(self.subjects)


def compiled(output: Output | None) -> Any:
    top = Topology(
        name="things", source=SOURCE, key="id", output=output, sinks=[Sink.postgres("things")]
    )
    return compile_topology(top, secrets={}, schemas_dir=Path("."))


def test_no_output_means_no_topic_no_subject_and_no_encoder() -> None:
    top = compiled(None)
    registry = Registry()
    assert top.output_topic is None
    assert make_encoder(top, registry) is None  # type: ignore[arg-type]
    assert registry.subjects == []  # before: things-value and things-key were registered


def test_a_declared_output_registers_its_subjects_and_encodes() -> None:
    top = compiled(Output(topic="warehouse.things"))
    registry = Registry()
    encoder = make_encoder(top, registry)  # type: ignore[arg-type]
    assert encoder is not None
    assert registry.subjects == ["warehouse.things-value", "warehouse.things-key"]


def test_show_and_status_say_there_is_no_output_topic() -> None:
    from streamapp.ops.dlqstore import DlqState
    from streamapp.ops.show import render
    from streamapp.ops.status import TopologyStatus
    from streamapp.ops.statusview import render_status

    top = compiled(None)
    shown = render(top, {})
    assert "output   - (none declared: no topic, no Avro encoding; sinks only), key id" in shown
    status = TopologyStatus(top, (), DlqState("shop.public.things.dlq"), None)
    lines = render_status("g", None, [status], {}, 0)
    assert "things: shop.public.things -> (no output topic)" in lines
    assert "  last applied  unknown (read from the output topic; this topology has none)" in lines
