"""The ops subcommands' command lines parse into what the operations expect."""

from __future__ import annotations

import pytest

from streamapp.cli import build_parser


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["topology", "show", "orders"], {"action": "show", "name": "orders"}),
        (
            ["topology", "test", "orders", "--events", "e.jsonl"],
            {"action": "test", "name": "orders", "events": "e.jsonl"},
        ),
        (["topology", "list"], {"action": "list"}),
        (
            ["replay", "orders", "--from", "offset", "5", "--to", "2024-05-01T10:00:00Z"],
            {"topology": "orders", "start": ["offset", "5"], "to": ["2024-05-01T10:00:00Z"]},
        ),
        (
            ["replay", "orders", "--from", "earliest", "--partitions", "2,0", "--dry-run"],
            {"partitions": (0, 2), "dry_run": True, "force": False, "to": None},
        ),
        (["dlq", "list", "orders"], {"action": "list", "topology": "orders"}),
        (
            ["dlq", "show", "orders", "--limit", "3", "--offset", "7"],
            {"action": "show", "limit": 3, "offset": 7, "trace": False},
        ),
        (
            ["dlq", "replay", "orders", "--exception", "TransformError", "--older-than", "2h"],
            {"exception": "TransformError", "older_than": 7_200_000, "newer_than": None},
        ),
        (
            ["dlq", "replay", "orders", "--from-offset", "3", "--to-offset", "9", "--dry-run"],
            {"from_offset": 3, "to_offset": 9, "dry_run": True},
        ),
        (["status"], {"topologies": []}),
        (["status", "orders", "customers"], {"topologies": ["orders", "customers"]}),
    ],
)
def test_command_lines(argv: list[str], expected: dict[str, object]) -> None:
    args = vars(build_parser().parse_args(argv))
    assert {k: args[k] for k in expected} == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["replay", "orders"],  # --from is required
        ["replay", "orders", "--from", "earliest", "--partitions", "a"],
        ["dlq", "replay", "orders", "--older-than", "soon"],
        ["topology", "test", "orders"],  # --events is required
        ["topology", "explain", "orders"],
    ],
)
def test_bad_command_lines_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_bad_position_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    from streamapp.cli import main

    assert main(["replay", "orders", "--from", "yesterday"]) == 2
    assert capsys.readouterr().err == (
        "error: --from: 'yesterday' is not a position; use earliest, latest, 'offset N', "
        "an ISO time (2024-05-01T12:00:00Z) or epoch milliseconds\n"
    )
