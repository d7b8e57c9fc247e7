"""A loopback TCP proxy the chaos suite puts between a worker and a server, to cut it at will.

The worker is pointed at the proxy (``STREAMAPP_WAREHOUSE_DSN`` / ``STREAMAPP_REDIS_URL`` with
the proxy's port); the suite then makes the server unreachable and reachable again:

- ``cut("refuse")``: the server is down. Open connections are reset (RST) and new ones are
  refused (nothing listens on the port) until ``restore()``.
- ``cut("blackhole")``: the network drops everything. Open connections stay open but no byte
  moves in either direction; new connections are accepted and then hang. ``restore()`` lets
  the held bytes through, as a healed network would.

It listens on 127.0.0.1 only and forwards only to a loopback address. It is bounded: at most
``max_connections`` at once (more are closed at once), and each direction of a connection holds
at most one ``chunk`` in memory (a blocked direction stops reading, so TCP pushes back).
The event loop runs in a daemon thread; the control methods are thread-safe and wait for the
change to be in force before they return.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
import threading
from typing import Any

MODES = ("refuse", "blackhole")


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``; see the module docstring for cut/restore."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        name: str = "proxy",
        max_connections: int = 256,
        chunk: int = 64 * 1024,
    ) -> None:
        if not ipaddress.ip_address(socket.gethostbyname(target_host)).is_loopback:
            raise ValueError(
                f"{name}: the chaos proxy only forwards to loopback, not {target_host}"
            )
        self.name = name
        self.target = (target_host, target_port)
        self.max_connections = max_connections
        self.chunk = chunk
        self.port = 0
        self.mode: str | None = None  # None: forwarding
        self.accepted = 0
        self.refused = 0
        self.bytes = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._flowing: asyncio.Event | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    # -- control (any thread) -----------------------------------------------------------------
    def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1:``port`` (0: a free one); returns the port."""
        self._thread.start()
        self.port = self._call(self._listen(port))
        return self.port

    def cut(self, mode: str = "refuse") -> None:
        """Make the target unreachable (``refuse`` or ``blackhole``) until :meth:`restore`."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self._call(self._cut(mode))

    def restore(self) -> None:
        """Forward again (and let held bytes through after a black hole)."""
        self._call(self._restore())

    def close(self) -> None:
        """Stop listening, reset every connection and end the thread; idempotent."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    # -- the loop -----------------------------------------------------------------------------
    async def _listen(self, port: int) -> int:
        if self._flowing is None:
            self._flowing = asyncio.Event()
            self._flowing.set()
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", port, reuse_address=True, backlog=64
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def _cut(self, mode: str) -> None:
        assert self._flowing is not None
        self.mode = mode
        self._flowing.clear()
        if mode == "refuse":
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
            for writer in list(self._writers):
                _reset(writer)

    async def _restore(self) -> None:
        assert self._flowing is not None
        if self._server is None:
            await self._listen(self.port)
        self.mode = None
        self._flowing.set()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            _reset(writer)
        tasks = list(self._conns)
        for task in tasks:
            task.cancel()
        # let them finish cancelling: a loop stopped under a cancelling task prints "Task was
        # destroyed but it is pending" with a CancelledError traceback at exit
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        if len(self._conns) >= self.max_connections or self.mode == "refuse":
            self.refused += 1
            _reset(writer)
            return
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self._writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            await self._flowing.wait()  # a black hole: the connection hangs before connecting
            up_reader, upstream = await asyncio.open_connection(*self.target)
            self._writers.add(upstream)
            await asyncio.gather(self._pump(reader, upstream), self._pump(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._conns.discard(task)
            for w in (writer, upstream):
                if w is not None:
                    self._writers.discard(w)
                    w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(self.chunk)
                if not data:
                    break
                await self._flowing.wait()  # bytes read as a black hole opened are held
                writer.write(data)
                await writer.drain()
                self.bytes += len(data)
        finally:
            if writer.can_write_eof():
                with contextlib.suppress(OSError):
                    writer.write_eof()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), as a server that went away does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
