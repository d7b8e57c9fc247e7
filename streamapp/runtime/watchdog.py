"""A last-resort exit: a worker that is stopping leaves the process within a bound, every time.

Faust and mode stop a crashed app through many services (fetcher, consumer, agents, producer
thread, web server) and the interpreter then joins every worker thread (``asyncio.to_thread``
calls, driver threads) before it exits. One of them waiting on something that never comes keeps
a dead worker alive forever, still answering ``/healthz`` from its web thread: the worst outcome
for an orchestrator that restarts crashed pods. ``arm`` starts a daemon thread that, unless the
process is gone first, prints every thread's stack (so the cause can be found) and ends the
process with ``os._exit``. Arming again keeps the earliest deadline; the code of a crash wins
over a clean one.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import sys
import threading
import time

__all__ = ["EXIT_STUCK", "arm", "armed"]

EXIT_STUCK = 70  # EX_SOFTWARE: a stop that did not finish by itself

_lock = threading.Lock()
_state: dict[str, object] = {}
_loop: list[asyncio.AbstractEventLoop] = []


def watch_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Also print the stacks of ``loop``'s pending tasks when the watchdog fires."""
    _loop[:] = [loop]


def arm(seconds: float, *, code: int, reason: str) -> None:
    """End the process with ``code`` unless it exits within ``seconds``; never raises."""
    deadline = time.monotonic() + max(0.0, seconds)
    with _lock:
        current = _state.get("deadline")
        if isinstance(current, float) and current <= deadline:
            if code and not _state.get("code"):
                _state["code"] = code  # a crash after a clean stop began: exit non-zero
            return
        _state.update(deadline=deadline, code=code or _state.get("code") or 0, reason=reason)
        if "thread" in _state:
            return  # the running thread reads the new deadline
        thread = threading.Thread(target=_watch, name="streamapp-exit-watchdog", daemon=True)
        _state["thread"] = thread
    thread.start()


def armed() -> float | None:
    """Seconds left before the watchdog ends the process, or None when it is not armed."""
    with _lock:
        deadline = _state.get("deadline")
    return None if not isinstance(deadline, float) else deadline - time.monotonic()


def _watch() -> None:
    while True:
        left = armed()
        if left is None:  # pragma: no cover - armed before the thread starts
            return
        if left <= 0:
            break
        time.sleep(min(left, 0.5))
    with _lock:
        code = int(_state.get("code") or 0)  # type: ignore[call-overload]
        reason = _state.get("reason")
    try:
        sys.stderr.write(
            f"streamapp: the worker did not exit after {reason}; ending it with code {code}. "
            "Thread stacks follow (report them: something kept the process alive).\n"
        )
        sys.stderr.flush()
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        _dump_tasks()
    finally:
        os._exit(code)


def _dump_tasks() -> None:
    """Best effort from another thread: the loop is stuck, so its task set is not changing.
    Each task is printed as its chain of awaits (innermost last), where it waits now."""
    for loop in _loop:
        try:
            tasks = list(asyncio.all_tasks(loop))
        except RuntimeError:  # the set changed while copying it: try once more
            tasks = list(asyncio.all_tasks(loop))
        sys.stderr.write(f"{len(tasks)} pending asyncio task(s):\n")
        for task in tasks:
            try:
                sys.stderr.write(f"- {task.get_name()}\n")
                for where in _awaits(task.get_coro()):
                    sys.stderr.write(f"    {where}\n")
            except Exception as exc:  # noqa: BLE001 - diagnostics must not stop the exit
                sys.stderr.write(f"  {task!r}: {exc}\n")
        sys.stderr.flush()


def _awaits(obj: object, depth: int = 0) -> list[str]:
    """``file:line in function`` for each coroutine or generator ``obj`` awaits, outermost
    first; a Future at the end says what it waits for."""
    out: list[str] = []
    while obj is not None and depth < 40:
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None)
        if frame is not None:
            code = frame.f_code
            out.append(f"{code.co_filename}:{frame.f_lineno} in {code.co_name}")
        nxt = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None)
        if nxt is None and frame is None:
            out.append(repr(obj)[:200])
            break
        obj, depth = nxt, depth + 1
    return out
