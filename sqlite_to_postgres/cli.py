"""Command line: ``python -m sqlite_to_postgres migrate|check|generate``; a thin layer over the library."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .connections import DSN_ENV, describe_dsn, open_source, open_target, resolve_target
from .errors import MigrationError
from .pipeline import DEFAULT_BATCH_SIZE, RejectLimit, migrate
from .progress import progress_for
from .summary import format_summaries
from .tables import TABLE_NAMES
from .workers import default_workers

log = logging.getLogger("sqlite_to_postgres")


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


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value}")
    return value


def _add_connection_arguments(parser: argparse.ArgumentParser) -> None:
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
        "--tables",
        nargs="+",
        choices=TABLE_NAMES,
        default=None,
        metavar="TABLE",
        help=f"tables to process (default: all): {', '.join(TABLE_NAMES)}",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sqlite_to_postgres", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("migrate", help="copy the catalog from SQLite into PostgreSQL")
    _add_connection_arguments(run)
    run.add_argument(
        "--batch-size",
        type=_positive,
        default=DEFAULT_BATCH_SIZE,
        help="rows per batch (default: %(default)s)",
    )
    run.add_argument(
        "--workers",
        type=_non_negative,
        default=default_workers(),
        help="processes that parse rows; 0 parses in the main process (default: one per core, %(default)s)",
    )
    run.add_argument("--no-schema", action="store_true", help="do not apply ddl/movies_database.ddl first")
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="ignore checkpoints of an interrupted run; read every row again",
    )
    run.add_argument(
        "--delete-missing",
        action="store_true",
        help="delete target rows whose id the source no longer has (off by default; links to them go too)",
    )
    run.add_argument(
        "--max-rejects",
        type=_non_negative,
        default=None,
        help="fail a table when more rows than this are rejected",
    )
    run.add_argument(
        "--max-reject-fraction",
        type=_fraction,
        default=RejectLimit().max_fraction,
        help="fail a table when more than this fraction of its rows is rejected (default: %(default)s)",
    )
    run.add_argument(
        "--retries",
        type=_non_negative,
        default=3,
        help="reconnections after a dropped connection (default: %(default)s)",
    )

    check = commands.add_parser(
        "check", help="compare every row of SQLite and PostgreSQL; exit 1 on a difference"
    )
    _add_connection_arguments(check)
    check.add_argument(
        "--fast",
        action="store_true",
        help="compare per-chunk hashes first and fetch only the rows of chunks that differ",
    )
    check.add_argument(
        "--batch-size",
        type=_positive,
        default=1_000,
        help="rows fetched at a time per side (default: %(default)s)",
    )

    generate = commands.add_parser("generate", help="write a synthetic legacy catalog in the source schema")
    generate.add_argument("--out", type=Path, required=True, help="SQLite file to write")
    generate.add_argument(
        "--scale", type=_positive, default=1, help="1 has the real catalog's shape (default: 1)"
    )
    generate.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    generate.add_argument("--force", action="store_true", help="overwrite an existing file")
    run_with = commands.add_parser(
        "exec",
        help=f"run a command with ${DSN_ENV} set to the target database, starting the embedded server if needed",
    )
    run_with.add_argument(
        "--dsn", default=None, help=f"as for migrate (default: ${DSN_ENV}, local, embedded)"
    )
    run_with.add_argument("argv", nargs=argparse.REMAINDER, help="the command, after --")
    return parser


def _exec(args: argparse.Namespace) -> int:
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise MigrationError("exec needs a command after --")
    with resolve_target(args.dsn) as dsn:
        log.info("Running %s with %s=%s", argv[0], DSN_ENV, describe_dsn(dsn))
        return subprocess.run(argv, env={**os.environ, DSN_ENV: dsn}, check=False).returncode


def _migrate(args: argparse.Namespace) -> int:
    with resolve_target(args.dsn) as dsn, progress_for(sys.stderr) as progress:
        log.info("Migrating %s into %s", args.sqlite, describe_dsn(dsn))
        summaries = migrate(
            args.sqlite,
            dsn,
            args.tables,
            batch_size=args.batch_size,
            workers=args.workers,
            apply_ddl=not args.no_schema,
            full_refresh=args.full_refresh,
            retries=args.retries,
            delete=args.delete_missing,
            reject_limit=RejectLimit(max_rows=args.max_rejects, max_fraction=args.max_reject_fraction),
            progress=progress,
        )
    print(format_summaries(summaries))
    return 0


def _check(args: argparse.Namespace) -> int:
    from .verify import check_consistency

    # A check never creates the database: a wrong DSN must fail, not report every row missing.
    with (
        resolve_target(args.dsn, create=False) as dsn,
        open_source(args.sqlite) as source,
        open_target(dsn) as target,
    ):
        report = check_consistency(source, target, args.tables, batch_size=args.batch_size, fast=args.fast)
    print(report.format())
    return 0 if report.ok else 1


def _generate(args: argparse.Namespace) -> int:
    from .generate import generate_catalog

    counts = generate_catalog(args.out, scale=args.scale, seed=args.seed, overwrite=args.force)
    print(
        f"Wrote {sum(counts.values()):,} rows to {args.out}: "
        + ", ".join(f"{t} {n:,}" for t, n in counts.items())
    )
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
