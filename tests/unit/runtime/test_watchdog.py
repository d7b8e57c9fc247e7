"""The exit watchdog ends a process that a stuck thread keeps alive, with the code it was given."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

STUCK = textwrap.dedent(
    """
    import threading, time
    from streamapp.runtime import watchdog
    # a non-daemon thread that never ends: the interpreter would wait for it forever
    threading.Thread(target=lambda: threading.Event().wait(), name="stuck-join").start()
    watchdog.arm({first}, code={code}, reason="a test crash")
    watchdog.arm(30.0, code=0, reason="a later, clean stop")  # keeps the earlier deadline
    """
)


def run(first: float, code: int) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", STUCK.format(first=first, code=code)],
        capture_output=True,
        text=True,
        timeout=25,
    )
    return proc.returncode, proc.stderr, time.monotonic() - started


def test_a_stuck_process_is_ended_with_the_crash_code_and_its_thread_stacks() -> None:
    code, err, _ = run(0.5, 1)
    assert code == 1
    assert "did not exit after a test crash" in err
    assert "stuck-join" in err or "Thread 0x" in err  # faulthandler's dump of every thread


def test_a_clean_stop_stuck_in_teardown_still_exits_with_its_code() -> None:
    code, err, _ = run(0.2, 0)
    assert code == 0 and "did not exit" in err


def test_a_crash_after_a_clean_stop_began_makes_the_exit_non_zero() -> None:
    script = textwrap.dedent(
        """
        import threading
        from streamapp.runtime import watchdog
        threading.Thread(target=lambda: threading.Event().wait()).start()
        watchdog.arm(0.5, code=0, reason="SIGTERM")
        watchdog.arm(10.0, code=1, reason="a crash while stopping")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=25)
    assert proc.returncode == 1


def test_armed_reports_the_time_left_and_nothing_before_arming() -> None:
    script = textwrap.dedent(
        """
        from streamapp.runtime import watchdog
        assert watchdog.armed() is None
        watchdog.arm(100.0, code=0, reason="x")
        left = watchdog.armed()
        assert left is not None and 99.0 < left <= 100.0, left
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=25
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
