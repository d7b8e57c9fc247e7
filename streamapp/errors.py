"""One error type per stage of the data path, plus start-up (configuration) errors.

Rules every raiser follows:
- the message is one line: what went wrong, where (topology, topic, field), what to do;
- a message never contains a record's values (a value may be PII that a later mask hides):
  name the field, its declared type and the value's Python type, never the value itself.
"""

from __future__ import annotations

from typing import ClassVar


class StreamappError(Exception):
    """Base of every error streamapp raises on purpose."""


class ConfigError(StreamappError):
    """Settings or a topology are wrong; raised at start-up, never per record."""


class TopologyError(ConfigError):
    """A topology module failed validation; ``problems`` holds one actionable line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class StageError(StreamappError):
    """A per-record failure in one stage; the record goes to the DLQ with ``stage`` in its headers.

    ``field`` names the column involved when there is one.
    """

    stage: ClassVar[str] = "unknown"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DecodeError(StageError):
    """The bytes are not a change event we can read (wire format, registry id, envelope, type)."""

    stage = "decode"


class DecodeBug(DecodeError):
    """Decoding failed inside streamapp (an unexpected exception), not because of the input: a
    bug to report. Still a DecodeError, so the record goes to the DLQ like bad input; tell the
    two apart by type (``isinstance(exc, DecodeBug)``), never by message text."""


class TransformError(StageError):
    """A topology transform rejected the record (e.g. a value that cannot be cast)."""

    stage = "transform"


class EncodeError(StageError):
    """The transformed record does not fit the output schema."""

    stage = "encode"


class SinkError(StageError):
    """A sink could not store a record. ``retriable`` errors are retried; others go to the DLQ."""

    stage = "sink"

    def __init__(self, message: str, *, field: str | None = None, retriable: bool = False) -> None:
        super().__init__(message, field=field)
        self.retriable = retriable


class RegistryError(StreamappError):
    """The schema registry could not be reached or answered with an error.

    ``retriable`` is True for a transient failure (RegistryUnavailableError): hold the batch
    and retry; False for an answer that retrying will not change (e.g. HTTP 401).
    """

    retriable: ClassVar[bool] = False


class RegistryUnavailableError(RegistryError):
    """The registry did not answer (connection refused, timeout, HTTP 408/429/5xx): transient,
    never a property of a record, so never a DLQ record; the batch waits and is retried."""

    retriable = True


class UnknownSchemaError(RegistryError, LookupError):
    """The registry answered that a schema id does not exist (404): a property of the record
    that carries the id, not a registry outage; decode turns it into a DecodeError."""


class UnusableSchemaError(RegistryError):
    """The registry has the schema id but streamapp cannot read its schema (a PROTOBUF or JSON
    schema, or text that is not valid Avro): a property of the records carrying the id;
    decode turns it into a DecodeError."""


class IncompatibleSchemaError(ConfigError):
    """A new output schema version would break compatibility; the message names field and rule."""
