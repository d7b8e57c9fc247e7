"""The shop workload: realistic inserts, updates and deletes on customers/orders/order_items.

Used by `streamapp generate` and `streamapp run` (and the e2e tests). ``Workload.step`` applies
one transaction; ``counts`` tallies what it did.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from streamapp.errors import ConfigError

T = TypeVar("T")
TABLES = ("customers", "orders", "order_items")
STATUSES = ("pending", "paid", "shipped")
_NAMES = ("Ada", "Björn", "Chloé", "Dmitri", "Émile", "Farah", "Grace", "Hiro", "Ines", "Jun")
_SURNAMES = ("Lovelace", "Ångström", "Müller", "O'Brien", "Nakamura", "Silva", "Zhang", "Kowalski")
_CITIES = (("Berlin", 52.52, 13.405), ("Lisboa", 38.7223, -9.1393), ("Tokyo", 35.6762, 139.6503))
_METHODS = ("standard", "express", "pickup")


class _Ids:
    """A set of ids with O(1) add, remove and random choice."""

    __slots__ = ("_pos", "items")

    def __init__(self) -> None:
        self.items: list[int] = []
        self._pos: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: int) -> None:
        if item not in self._pos:
            self._pos[item] = len(self.items)
            self.items.append(item)

    def remove(self, item: int) -> None:
        index = self._pos.pop(item, None)
        if index is None:
            return
        last = self.items.pop()
        if index < len(self.items):
            self.items[index] = last
            self._pos[last] = index

    def choice(self, rng: random.Random) -> int:
        return self.items[rng.randrange(len(self.items))]


@dataclass(slots=True)
class Counts:
    """What a Workload applied so far: committed transactions and row changes by kind."""

    transactions: int = 0
    inserts: int = 0
    updates: int = 0
    deletes: int = 0
    conflicts: int = 0  # transactions rolled back because another writer got in the way
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def changes(self) -> int:
        return self.inserts + self.updates + self.deletes


class Workload:
    """Applies one random, realistic OLTP transaction at a time to the shop tables of a schema.

    Guarantees: each :meth:`step` commits exactly one transaction or rolls it back (see
    there). The stream covers multi-row transactions, primary-key updates (cascading to
    referencing rows), deletes, NULLs in every nullable column, large TOASTed ``notes`` that
    later updates leave untouched, two updates of one row in one transaction, negative NUMERICs
    with twelve digits, timestamps with and without time zone, and JSONB documents. Orders with
    status ``test`` are inserted and deleted but never updated, and no order ever becomes one.
    With one writer and a given ``seed`` the stream is reproducible. ``conn`` must be an
    autocommit psycopg connection; the workload sets its ``search_path`` to ``schema``.
    """

    def __init__(self, conn: Any, *, schema: str = "public", seed: int | None = None) -> None:
        from psycopg import sql

        self.conn = conn
        self.rng = random.Random(seed)
        self.counts = Counts()
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        self.load()
        self._kinds: list[tuple[str, int, Callable[[], None]]] = [
            ("new_customer", 12, self.new_customer),
            ("update_customer", 12, self.update_customer),
            ("place_order", 20, self.place_order),
            ("advance_order", 18, self.advance_order),
            ("pay_and_ship", 4, self.pay_and_ship),
            ("bulk_ship", 4, self.bulk_ship),
            ("refund", 5, self.refund),
            ("delete_order", 6, self.delete_order),
            ("delete_customer", 3, self.delete_customer),
            ("rekey_customer", 3, self.rekey_customer),
            ("rekey_order", 3, self.rekey_order),
            ("test_order", 4, self.test_order),
        ]

    @property
    def kinds(self) -> tuple[str, ...]:
        """The names of the transaction kinds :meth:`step` chooses from."""
        return tuple(kind for kind, _w, _a in self._kinds)

    # -- driving ------------------------------------------------------------------------------
    def load(self) -> None:
        """(Re)read the ids of existing customers and orders."""
        self.customers, self.orders, self.tests = _Ids(), _Ids(), _Ids()  # tests: status 'test'
        for (cid,) in self.conn.execute("SELECT id FROM customers"):
            self.customers.add(cid)
        for oid, status in self.conn.execute("SELECT id, status FROM orders"):
            (self.tests if status == "test" else self.orders).add(oid)

    def step(self) -> int:
        """Apply one transaction; returns how many row changes it made.

        A transaction that another writer made impossible (a key taken, a row gone) is rolled
        back, counted in ``counts.conflicts``, and the known ids are re-read; any other error
        rolls it back and propagates.
        """
        import psycopg

        if len(self.customers) < 3:
            kind, action = "new_customer", self.new_customer
        else:
            kind, _w, action = self.rng.choices(self._kinds, [w for _k, w, _a in self._kinds])[0]
        saved = replace(self.counts, by_kind=dict(self.counts.by_kind))
        try:
            with self.conn.transaction():
                action()
        except psycopg.errors.IntegrityError:
            saved.conflicts += 1
            self.counts = saved
            self.load()
            return 0
        self.counts.transactions += 1
        self.counts.by_kind[kind] = self.counts.by_kind.get(kind, 0) + 1
        return self.counts.changes - saved.changes

    def populate(self, customers: int, orders: int) -> None:
        """Insert ``customers`` customers, then ``orders`` orders (one transaction each)."""
        for _ in range(customers):
            with self.conn.transaction():
                self.new_customer()
        for _ in range(orders):
            with self.conn.transaction():
                self.place_order()

    def _exec(self, query: str, params: tuple[Any, ...] = (), kind: str = "updates") -> Any:
        cur = self.conn.execute(query, params)
        rows = max(cur.rowcount, 0)
        setattr(self.counts, kind, getattr(self.counts, kind) + rows)
        return cur

    # -- values -------------------------------------------------------------------------------
    def _maybe(self, value: T, null_share: float = 0.15) -> T | None:
        return None if self.rng.random() < null_share else value

    def _money(self, low: int, high: int) -> Decimal:
        return Decimal(self.rng.randint(low * 100, high * 100)) / 100

    def _notes(self) -> str | None:
        roll = self.rng.random()
        if roll < 0.2:
            return None
        if roll < 0.5:  # several KB of poorly compressible text: stored out of line (TOAST)
            size = self.rng.randint(3_000, 12_000)
            return "".join(self.rng.choices("abcdefghijklmnopqrstuvwxyz0123456789 \n", k=size))
        return self.rng.choice(("call before delivery", "gift wrap", "leave at the door", ""))

    def _address(self) -> dict[str, Any] | None:
        city, lat, lon = self.rng.choice(_CITIES)
        address: dict[str, Any] = {"street": f"{self.rng.randint(1, 200)} Main St", "city": city}
        if self.rng.random() < 0.8:
            address["geo"] = {"lat": lat + self.rng.random() / 100, "lon": lon}
        return self._maybe(address, 0.1)

    def _items(self) -> list[dict[str, Any]]:
        return [
            {
                "sku": f"SKU-{self.rng.randint(1, 999):03d}",
                "qty": self.rng.randint(1, 5),
                "unit_price": float(self._money(1, 500)),
            }
            for _ in range(self.rng.randint(1, 5))
        ]

    def _shipping(self) -> dict[str, Any] | None:
        city = self.rng.choice(_CITIES)[0]
        doc: dict[str, Any] = {
            "method": self.rng.choice(_METHODS),
            "address": {"line1": "1 Dock Rd", "city": city, "postal_code": "10115"},
        }
        if self.rng.random() < 0.3:
            doc["address"]["country"] = "DE"
        if self.rng.random() < 0.2:
            doc["tracking"] = f"TRK{self.rng.randint(10**8, 10**9)}"  # undeclared: the remainder
        return self._maybe(doc, 0.1)

    def _placed_at(self) -> datetime:
        return datetime.now(UTC) - timedelta(seconds=self.rng.randint(0, 86_400 * 30))

    # -- transactions -------------------------------------------------------------------------
    def new_customer(self) -> None:
        first, last = self.rng.choice(_NAMES), self.rng.choice(_SURNAMES)
        born = date(1950, 1, 1) + timedelta(days=self.rng.randint(0, 365 * 55))
        cur = self._exec(
            "INSERT INTO customers (email, full_name, phone, ssn, birth_date, credit_limit, vip,"
            " address, updated_at, notes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING id",
            (
                self._maybe(f"{first.lower()}.{self.rng.randint(1, 10**6)}@example.com"),
                self._maybe(f"{first} {last}", 0.05),
                self._maybe(f"+49 30 {self.rng.randint(10**6, 10**7 - 1)}"),
                self._maybe(f"{self.rng.randint(100, 999)}-45-{self.rng.randint(1000, 9999)}"),
                self._maybe(born),
                self._maybe(self._money(0, 50_000)),
                self.rng.random() < 0.1,
                _jsonb(self._address()),
                self._maybe(datetime.now(UTC).replace(tzinfo=None), 0.2),  # wall clock, UTC
                self._notes(),
            ),
            "inserts",
        )
        self.customers.add(cur.fetchone()[0])

    def update_customer(self) -> None:
        cid = self.customers.choice(self.rng)
        column, value = self.rng.choice(
            (
                ("email", self._maybe(f"new.{self.rng.randint(1, 10**6)}@example.org", 0.2)),
                ("phone", self._maybe(f"+351 21 {self.rng.randint(10**6, 10**7 - 1)}", 0.3)),
                ("address", _jsonb(self._address())),
                ("vip", self.rng.random() < 0.5),
                ("credit_limit", self._maybe(self._money(-1_000, 99_999), 0.2)),
            )
        )
        self._exec(
            f"UPDATE customers SET {column} = %s, updated_at = localtimestamp WHERE id = %s",
            (value, cid),
        )

    def _insert_order(self, status: str, total: Decimal | None = None) -> int:
        items = self._maybe(self._items(), 0.05)
        if total is None:
            lines = items or []
            total = sum((Decimal(str(i["unit_price"])) * i["qty"] for i in lines), Decimal(0))
        cur = self._exec(
            "INSERT INTO orders (customer_id, status, total, currency, items, shipping,"
            " placed_at, notes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                self.customers.choice(self.rng) if self.customers else None,
                status,
                self._maybe(total, 0.05),
                self.rng.choice(("EUR", "EUR", "USD", "JPY")),
                _jsonb(items),
                _jsonb(self._shipping()),
                self._maybe(self._placed_at(), 0.1),
                self._notes(),
            ),
            "inserts",
        )
        oid: int = cur.fetchone()[0]
        for line_no, item in enumerate(items or [], start=1):
            self._exec(
                "INSERT INTO order_items (order_id, line_no, sku, qty, unit_price)"
                " VALUES (%s, %s, %s, %s, %s)",
                (oid, line_no, item["sku"], item["qty"], Decimal(str(item["unit_price"]))),
                "inserts",
            )
        return oid

    def place_order(self) -> None:
        """Order + its items + the customer's updated_at, in one transaction."""
        oid = self._insert_order("pending")
        self.orders.add(oid)
        if self.customers:
            self._exec(
                "UPDATE customers SET updated_at = localtimestamp WHERE id ="
                " (SELECT customer_id FROM orders WHERE id = %s)",
                (oid,),
            )

    def _some_order(self) -> int | None:
        return self.orders.choice(self.rng) if self.orders else None

    def advance_order(self) -> None:
        """Status (and sometimes an item) changes; the TOASTed notes stay untouched."""
        oid = self._some_order()
        status = self.rng.choice(STATUSES[1:])
        self._exec("UPDATE orders SET status = %s WHERE id = %s", (status, oid))
        if self.rng.random() < 0.3:
            self._exec(
                "UPDATE order_items SET qty = qty + 1 WHERE order_id = %s AND line_no = 1", (oid,)
            )

    def pay_and_ship(self) -> None:
        """Two updates of one row in one transaction."""
        oid = self._some_order()
        self._exec("UPDATE orders SET status = 'paid' WHERE id = %s", (oid,))
        self._exec("UPDATE orders SET status = 'shipped', placed_at = now() WHERE id = %s", (oid,))

    def bulk_ship(self) -> None:
        """One statement updating several orders."""
        picks = list({self.orders.choice(self.rng) for _ in range(5)}) if self.orders else []
        self._exec("UPDATE orders SET status = 'shipped' WHERE id = ANY(%s)", (picks,))

    def refund(self) -> None:
        """A refund: a negative total with up to twelve digits."""
        total = -Decimal(self.rng.randint(1, 10**12 - 1)) / 100
        self.orders.add(self._insert_order("refunded", total))

    def delete_order(self) -> None:
        """An order and its items (explicitly, then the order)."""
        oid = self._some_order()
        if oid is None:
            return
        self._exec("DELETE FROM order_items WHERE order_id = %s", (oid,), "deletes")
        self._exec("DELETE FROM orders WHERE id = %s", (oid,), "deletes")
        self.orders.remove(oid)

    def delete_customer(self) -> None:
        """Deleting a customer sets customer_id NULL on their orders (ON DELETE SET NULL)."""
        cid = self.customers.choice(self.rng)
        self._cascades("orders", "customer_id", cid)
        self._exec("DELETE FROM customers WHERE id = %s", (cid,), "deletes")
        self.customers.remove(cid)

    def rekey_customer(self) -> None:
        """A primary-key update, cascading to the customer's orders."""
        cid = self.customers.choice(self.rng)
        self._cascades("orders", "customer_id", cid)
        cur = self._exec(
            "UPDATE customers SET id = nextval(pg_get_serial_sequence('customers', 'id'))"
            " WHERE id = %s RETURNING id",
            (cid,),
        )
        self.customers.remove(cid)
        for (new_id,) in cur:  # none when another writer deleted it meanwhile
            self.customers.add(new_id)

    def rekey_order(self) -> None:
        """A primary-key update of an order, cascading to its items."""
        oid = self._some_order()
        if oid is None:
            return
        self._cascades("order_items", "order_id", oid)
        cur = self._exec(
            "UPDATE orders SET id = nextval(pg_get_serial_sequence('orders', 'id'))"
            " WHERE id = %s RETURNING id",
            (oid,),
        )
        self.orders.remove(oid)
        for (new_id,) in cur:
            self.orders.add(new_id)

    def _cascades(self, table: str, column: str, key: int) -> None:
        """Count the rows a foreign-key cascade from ``key`` is about to update."""
        cur = self.conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", (key,))
        self.counts.updates += cur.fetchone()[0]

    def test_order(self) -> None:
        """Insert a test order (topologies drop them), or delete one."""
        if self.tests and self.rng.random() < 0.4:
            oid = self.tests.choice(self.rng)
            self._exec("DELETE FROM orders WHERE id = %s", (oid,), "deletes")
            self.tests.remove(oid)
        else:
            self.tests.add(self._insert_order("test"))


def _jsonb(doc: Any) -> Any:
    """A JSONB parameter; None stays SQL NULL."""
    from psycopg.types.json import Jsonb

    return None if doc is None else Jsonb(doc)


def check_tables(conn: Any, schema: str) -> None:
    """ConfigError naming the first shop table missing from ``schema``."""
    have = {
        name
        for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        )
    }
    for table in TABLES:
        if table not in have:
            raise ConfigError(
                f"table {schema}.{table} not found in the source database; `make up` creates "
                "the sample schema (infra/local/source/shop.sql)"
            )
