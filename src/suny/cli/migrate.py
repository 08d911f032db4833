"""``suny migrate STORE...``: bring results stores written by an older suny to this release's schema."""

from __future__ import annotations

import argparse
import json

from suny.benchmark.migrations import SCHEMA_VERSION, migrate


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "migrate",
        help="update results stores written by an older suny",
        description=f"Bring each results store (suny bench --store) to store schema {SCHEMA_VERSION}, the "
        "one this release writes: every pending step in one transaction (all or nothing; other "
        "processes wait for it), each step logged. A copy of each file as it was is kept beside it "
        "(NAME.schemaV.sqlite) unless --no-backup. A store that is current is left as it is.",
        epilog="example: suny migrate docs/results/results.sqlite",
    )
    parser.add_argument("stores", nargs="+", metavar="STORE", help="results files (.sqlite)")
    parser.add_argument("--no-backup", action="store_true", help="do not keep a copy of each file as it was")
    parser.add_argument("--json", action="store_true", help="print what was done, per file, as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    reports = [migrate(store, backup=not args.no_backup) for store in args.stores]
    if args.json:
        done = {
            str(report.path): {
                "from": report.before,
                "to": SCHEMA_VERSION,
                "steps": [step.description for step in report.steps],
                "backup": None if report.backup is None else str(report.backup),
            }
            for report in reports
        }
        print(json.dumps(done, indent=2))
    return 0
