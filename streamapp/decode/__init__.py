"""The decode stage: Debezium change-topic bytes (Avro or JSON) -> ChangeEvent."""

from streamapp.decode.avro import SchemaResolver
from streamapp.decode.decoder import Decoder
from streamapp.decode.mongo import parse_document
from streamapp.decode.semantic import PLACEHOLDER
from streamapp.decode.version import event_version

__all__ = ["PLACEHOLDER", "Decoder", "SchemaResolver", "event_version", "parse_document"]
