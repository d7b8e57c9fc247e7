"""Kafka metadata and consumer-group offsets for operations commands (confluent-kafka clients)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from streamapp.errors import ConfigError
from streamapp.kafkaconf import kafka_conf, security_of
from streamapp.kafkaerrors import client_error, unseen_by_acl
from streamapp.ops import OpsError

if TYPE_CHECKING:
    from streamapp.settings import Settings

T = TypeVar("T")
TP = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Member:
    """One active member of a consumer group."""

    client_id: str
    host: str
    partitions: tuple[TP, ...]


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A consumer group as the broker describes it (state ``Empty``/``Dead`` has no members)."""

    group: str
    state: str
    members: tuple[Member, ...]

    def describe(self) -> str:
        """``Stable, 2 member(s): worker-1@/10.0.0.5 (orders[0,1]), ...``."""
        if not self.members:
            return f"{self.state}, no active members"
        shown = []
        for m in self.members:
            parts: dict[str, list[int]] = {}
            for topic, partition in m.partitions:
                parts.setdefault(topic, []).append(partition)
            where = ", ".join(f"{t}{sorted(p)}" for t, p in parts.items())
            shown.append(f"{m.client_id}@{m.host}" + (f" ({where})" if where else ""))
        return f"{self.state}, {len(self.members)} member(s): " + "; ".join(shown)


class Kafka:
    """An AdminClient and a metadata-only Consumer; every failure becomes one-line OpsError.

    The consumer never joins a group and never commits: offsets are only changed through
    :meth:`commit`, which the broker refuses for a group that has active members.
    """

    def __init__(self, settings: Settings, *, timeout: float = 15.0) -> None:
        self.settings = settings
        self.bootstrap = settings.kafka_bootstrap
        self.security = security_of(settings)
        self.timeout = timeout
        self.admin = AdminClient(kafka_conf(settings))
        self._consumer: Any = None

    @property
    def consumer(self) -> Any:
        """A plain consumer for watermarks and offsets-for-times (created on first use)."""
        if self._consumer is None:
            self._consumer = Consumer(
                kafka_conf(
                    self.settings,
                    {"group.id": "streamapp-ops-metadata", "enable.auto.commit": False},
                )
            )
        return self._consumer

    def close(self) -> None:
        """Close the consumer if one was created; idempotent."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (KafkaException, TimeoutError) as exc:
            text, hint = client_error(exc, self.admin, self.security)
            message = f"Kafka at {self.bootstrap}: {what} failed ({text})"
            if hint:  # the connection settings are wrong: no command can go on
                raise ConfigError(f"{message}; {hint}") from None
            raise OpsError(
                f"{message}; check the broker (`streamapp check`) and STREAMAPP_KAFKA_BOOTSTRAP"
            ) from None

    def partitions(self, topic: str, *, missing_ok: bool = False) -> list[int]:
        """The partition numbers of ``topic``; when it does not exist, ``[]`` if ``missing_ok``
        else OpsError."""
        # All topics, not list_topics(topic): asking for one topic auto-creates it on a
        # broker with auto.create.topics.enable.
        meta = self._call(
            f"metadata of {topic!r}", lambda: self.admin.list_topics(timeout=self.timeout)
        )
        found = meta.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            if unseen_by_acl(self.security):  # a principal sees only what it may Describe
                self._refused_describe(topic)
            if missing_ok:
                return []
            raise OpsError(
                f"topic {topic!r} does not exist on {self.bootstrap}; check the topology's "
                "topic names (`streamapp topology list`)"
            )
        return sorted(found.partitions)

    def _refused_describe(self, topic: str) -> None:
        """ConfigError naming the user when the broker refuses to describe ``topic`` (ACLs);
        nothing when it does not exist (DescribeTopics never creates a topic)."""
        from confluent_kafka import KafkaError, TopicCollection

        future = self.admin.describe_topics(TopicCollection([topic]))[topic]
        try:
            future.result(self.timeout)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if getattr(err, "code", lambda: None)() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                raise ConfigError(
                    f"Kafka at {self.bootstrap}: topic {topic!r}{unseen_by_acl(self.security)}"
                ) from None
        except TimeoutError:
            pass

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        """(low, end): the first stored offset and the next offset to be written."""
        low, high = self._call(
            f"watermarks of {topic}[{partition}]",
            lambda: self.consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=self.timeout
            ),
        )
        return int(low), int(high)

    def offsets_for_time(self, topic: str, partitions: Sequence[int], ms: int) -> dict[int, int]:
        """Per partition, the first offset whose record time is >= ``ms`` (-1: none)."""
        asked = [TopicPartition(topic, p, ms) for p in partitions]
        found = self._call(
            f"offsets-for-times of {topic}",
            lambda: self.consumer.offsets_for_times(asked, timeout=self.timeout),
        )
        return {tp.partition: int(tp.offset) for tp in found}

    def committed(self, group: str, tps: Sequence[TP]) -> dict[TP, tuple[int | None, str]]:
        """The group's committed (offset, metadata) per partition; offset None when none."""
        request = [ConsumerGroupTopicPartitions(group, [TopicPartition(t, p) for t, p in tps])]
        result = self._call(
            f"committed offsets of group {group!r}",
            lambda: self.admin.list_consumer_group_offsets(request)[group].result(self.timeout),
        )
        out: dict[TP, tuple[int | None, str]] = {}
        for tp in result.topic_partitions:
            offset = int(tp.offset)
            out[(tp.topic, tp.partition)] = (offset if offset >= 0 else None, tp.metadata or "")
        return out

    def group(self, group: str) -> GroupInfo:
        """The group's state and active members (state ``Dead`` when it never existed)."""
        desc = self._call(
            f"describing group {group!r}",
            lambda: self.admin.describe_consumer_groups([group])[group].result(self.timeout),
        )
        members = []
        for m in desc.members or ():
            assigned = m.assignment.topic_partitions if m.assignment is not None else []
            members.append(
                Member(m.client_id, m.host, tuple((tp.topic, tp.partition) for tp in assigned))
            )
        state = getattr(desc.state, "name", str(desc.state)).title()
        return GroupInfo(group, state, tuple(members))

    def commit(
        self, group: str, offsets: Mapping[TP, int], metadata: Mapping[TP, str] | None = None
    ) -> None:
        """Set the group's committed offsets; OpsError naming the partition if one is refused.

        The broker only accepts this for a group without active members (UNKNOWN_MEMBER_ID
        otherwise): stop the workers of the group first.
        """
        if not offsets:
            return
        meta = metadata or {}
        tps = [
            TopicPartition(t, p, o, meta[(t, p)]) if (t, p) in meta else TopicPartition(t, p, o)
            for (t, p), o in offsets.items()
        ]
        request = [ConsumerGroupTopicPartitions(group, tps)]
        result = self._call(
            f"committing offsets of group {group!r}",
            lambda: self.admin.alter_consumer_group_offsets(request)[group].result(self.timeout),
        )
        for tp in result.topic_partitions:
            if tp.error is not None:
                raise OpsError(
                    f"Kafka refused to move group {group!r} on {tp.topic}[{tp.partition}] "
                    f"({tp.error.str()}); a group with active members cannot be moved from "
                    "outside: stop its workers and run the command again"
                )
