"""Command line: ``python -m sqlite_to_postgres migrate|check|generate|exec``; a thin layer over ``api``."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import api
from .connections import DSN_ENV, describe_dsn, resolve_target
from .errors import MigrationError
from .options import RunOptions, option_help
from .progress import progress_for
from .tables import TABLE_NAMES

log = logging.getLogger("sqlite_to_postgres")

# The command line's name for each run option, where it is not the option's own.
_FLAGS = {"tables": "--tables", "full_refresh": "--full-refresh", "delete_missing": "--delete-missing"}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _fraction(text: str) -> float | None:
    if text.lower() == "none":
        return None
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, or none, not {value}")
    return value


def _add_source_and_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sqlite", type=Path, default=Path("db.sqlite"), help="source SQLite file (default: %(default)s)"
    )
    parser.add_argument(
        "--dsn",
        default=None,
        help=f"target PostgreSQL DSN or URI; default: ${DSN_ENV}, else 127.0.0.1:5432 as postgres, "
        "else an embedded server in .pgserver/ (database movies_database)",
    )
    parser.add_argument(
        "--tables", nargs="+", choices=TABLE_NAMES, default=None, metavar="TABLE", help=option_help("tables")
    )


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """One flag per field of RunOptions (tables come with the source and target), with its help text."""
    defaults = RunOptions()

    def add(name: str, kind: Callable[[str], Any] | None = None) -> None:
        text = option_help(name)
        if kind is not None and "(default" not in text:
            text += " (default: %(default)s)"
        flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
        if kind is None:
            parser.add_argument(flag, action="store_true", help=text)
        else:
            parser.add_argument(flag, type=kind, default=getattr(defaults, name), help=text)

    add("batch_size", _positive)
    add("full_refresh")
    add("delete_missing")
    add("max_rejects", _non_negative)
    add("max_reject_fraction", _fraction)
    add("workers", _non_negative)
    add("lock_timeout", _seconds)
    add("retries", _non_negative)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sqlite_to_postgres", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("migrate", help="copy the catalog from SQLite into PostgreSQL")
    _add_source_and_target(run)
    _add_run_options(run)
    run.add_argument("--no-schema", action="store_true", help="do not apply ddl/movies_database.ddl first")

    check = commands.add_parser(
        "check", help="account for every row of SQLite in PostgreSQL and back; exit 1 on a difference"
    )
    _add_source_and_target(check)
    mode = check.add_mutually_exclusive_group()
    mode.add_argument(
        "--full", action="store_true", help="compare every row, instead of per-chunk digests first and the rows of chunks that differ"
    )
    mode.add_argument("--fast", action="store_true", help="per-chunk digests first: the default, kept for old scripts")
    check.add_argument(
        "--batch-size", type=_positive, default=api.CHECK_BATCH_SIZE, help="rows fetched at a time per side (default: %(default)s)"
    )
    check.add_argument(
        "--lock-timeout", type=_seconds, default=RunOptions().lock_timeout, help=option_help("lock_timeout") + " (default: %(default)s)"
    )

    generate = commands.add_parser("generate", help="write a synthetic legacy catalog in the source schema")
    generate.add_argument("--out", type=Path, required=True, help="SQLite file to write")
    generate.add_argument("--scale", type=_positive, default=1, help="1 has the real catalog's shape (default: 1)")
    generate.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    generate.add_argument("--force", action="store_true", help="overwrite an existing file")

    run_with = commands.add_parser(
        "exec", help=f"run a command with ${DSN_ENV} set to the target database, starting the embedded server if needed"
    )
    run_with.add_argument("--dsn", default=None, help=f"as for migrate (default: ${DSN_ENV}, local, embedded)")
    run_with.add_argument("argv", nargs=argparse.REMAINDER, help="the command, after --")
    return parser


def run_options(args: argparse.Namespace) -> RunOptions:
    """The RunOptions a parsed ``migrate`` command line asks for."""
    names = ("batch_size", "full_refresh", "delete_missing", "max_rejects", "max_reject_fraction", "workers")
    values = {name: getattr(args, name) for name in (*names, "lock_timeout", "retries")}
    return RunOptions(tables=tuple(args.tables or TABLE_NAMES), **values)


def _exec(args: argparse.Namespace) -> int:
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise MigrationError("exec needs a command after --")
    with resolve_target(args.dsn) as dsn:
        log.info("Running %s with %s=%s", argv[0], DSN_ENV, describe_dsn(dsn))
        return subprocess.run(argv, env={**os.environ, DSN_ENV: dsn}, check=False).returncode


def _migrate(args: argparse.Namespace) -> int:
    options = run_options(args)
    with resolve_target(args.dsn) as dsn, progress_for(sys.stderr) as progress:
        log.info("Migrating %s into %s", args.sqlite, describe_dsn(dsn))
        summaries = api.migrate(args.sqlite, dsn, options, apply_ddl=not args.no_schema, progress=progress)
    print(api.format_summaries(summaries))
    return 0


def _check(args: argparse.Namespace) -> int:
    # A check never creates the database: a wrong DSN must fail, not report every row missing.
    with resolve_target(args.dsn, create=False) as dsn:
        report = api.check(
            args.sqlite, dsn, args.tables, full=args.full, batch_size=args.batch_size, lock_timeout=args.lock_timeout
        )
    print(report.format())
    return 0 if report.ok else 1


def _generate(args: argparse.Namespace) -> int:
    from .sample import generate_catalog

    counts = generate_catalog(args.out, scale=args.scale, seed=args.seed, overwrite=args.force)
    print(f"Wrote {sum(counts.values()):,} rows to {args.out}: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    commands = {"migrate": _migrate, "check": _check, "generate": _generate, "exec": _exec}
    try:
        return commands[args.command](args)
    except MigrationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: committed batches are kept; run again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
