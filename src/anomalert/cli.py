"""Command line: ``anomalert <command> ...``, one subcommand per job.

Every error a user can cause ends as one line on stderr (``anomalert: error: ...``) and a
non-zero exit status, never a traceback. Heavy imports live inside the handlers so
``anomalert --help`` is instant. The commands live beside their job, each module adding its
own with ``register(subparsers)``: :mod:`anomalert.commands` (generate, detect, evaluate),
:mod:`anomalert.report.cli` (sweep), :mod:`anomalert.evaluation.nab_cli` (nab),
:mod:`anomalert.server.cli` (watch, serve, simulate).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from anomalert.commands import note as _note
from anomalert.errors import AnomalertError

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anomalert",
        description="Find anomalies in infrastructure metrics and turn them into alerts.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for register in _commands():
        register(sub)
    return parser


def _commands() -> list[Callable[[Any], None]]:
    """Every subcommand's module (each exposes ``register(subparsers)``), in help order."""
    from anomalert import commands
    from anomalert.evaluation import nab_cli
    from anomalert.report import cli as report_cli
    from anomalert.server import cli as server_cli

    return [commands.register, report_cli.register, nab_cli.register, server_cli.register]


#: Commands that never compile a detector (no note about compiling for them).
_NO_COMPILE = frozenset({"generate"})


def _announce_compiling() -> None:
    """Say so on stderr, once, when a detector's compiled code is built for this machine
    (the first run after installing: a minute or two, silent otherwise). Loading it from the
    cache later does not trigger it."""
    try:
        from numba.core import event
    except ImportError:  # pragma: no cover - numba is a dependency
        return

    class _Once(event.Listener):  # type: ignore[misc]
        said = False

        def on_start(self, ev: Any) -> None:
            if not self.said:
                self.said = True
                _note("compiling the detectors for this machine (first run only; about a "
                      "minute, cached for later runs)")

        def on_end(self, ev: Any) -> None:
            pass

    event.register("numba:compile", _Once())


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # the subcommand's usage, not the top-level one, says what it takes
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        subparsers.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    handler: Handler = args.handler
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    if args.command not in _NO_COMPILE:
        _announce_compiling()
    try:
        return handler(args)
    except AnomalertError as exc:
        print(f"anomalert: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"anomalert: error: {exc.filename}: no such file", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (| head): not an error of ours
        return 0
    except OSError as exc:  # an output that cannot be written, a full disk...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"anomalert: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("anomalert: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
