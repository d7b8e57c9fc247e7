"""The worker harness with extra settings, and changes stamped with the current time."""

from __future__ import annotations

from typing import Any

from worker_harness import WorkerHarness


class FreshHarness(WorkerHarness):
    """WorkerHarness plus ``extra`` env settings and :meth:`send_now`."""

    extra: dict[str, str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra = {"STREAMAPP_FRESHNESS_INTERVAL": "1"}
        self.lsn = 1000

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.extra}

    def send_now(self, ident: int) -> int:
        """Upsert row ``ident`` as a change committed now; returns its source ts (ms)."""
        import time

        self.lsn += 10
        now = int(time.time() * 1000)
        row = {"id": ident, "email": f"u{ident}@x.org", "qty": "1", "note": f"n{self.lsn}"}
        key = self._avro(self._key_schema, self._key_id, self.source.key_of(row))
        event = self.source.event("c", after=row, lsn=self.lsn, ts_ms=now + 5)
        self._producer.produce(
            self.topic, key=key, value=self._avro(self._value_schema, self._value_id, event)
        )
        return now  # Table.event stamps source.ts_ms 5 ms before the envelope's ts_ms
