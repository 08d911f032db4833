"""``suny report RESULTS.sqlite [MORE.sqlite ...] --out DIR``: the paper's tables from ``suny bench``
stores, in Markdown (``tables.md``), CSV and LaTeX (one file per dataset and table), with the mean
deletion/insertion curves, the sanity check per step, a gallery of example maps and ``index.html``.

Several files (one per host of a multi-host run) are merged first; ``--merge-into`` keeps the
merged store.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from suny.benchmark.merge import merge_stores
from suny.errors import SunyError
from suny.report import write_results_report


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="tables (Markdown, CSV, LaTeX), curves and an HTML page from 'suny bench' results",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("stores", nargs="+", type=Path, metavar="RESULTS.sqlite", help="results files")
    parser.add_argument("--out", type=Path, default=Path("report"), help="output folder (default: report)")
    parser.add_argument(
        "--merge-into", type=Path, default=None, help="also write the union of the stores to this file"
    )
    parser.add_argument(
        "--gallery", type=int, default=4, help="images in each model's gallery of maps (default: 4)"
    )
    parser.add_argument(
        "--all-images",
        action="store_true",
        help="aggregate each row over every image it has; by default the rows of a table use only the "
        "images that all of them have, so that they compare the same images",
    )
    parser.add_argument(
        "--all-configurations",
        action="store_true",
        help="keep the rows of a method that a later release's defaults replaced (the same method, "
        "options and settings but for a changed default); by default only the newest is shown and "
        "the others are listed after the tables",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    missing = [str(path) for path in args.stores if not path.is_file()]
    if missing:
        raise SunyError(f"no such results file: {', '.join(missing)}")
    stores = args.stores
    if args.merge_into is not None:
        merge_stores(stores, args.merge_into)
        stores = [args.merge_into]
    written = write_results_report(
        stores,
        args.out,
        gallery_images=args.gallery,
        common_images=not args.all_images,
        all_configurations=args.all_configurations,
    )
    print(f"report of {', '.join(map(str, args.stores))} written to {args.out}: {', '.join(written)}")
    return 0
