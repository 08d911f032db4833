"""The evaluation grid (``suny bench``) and its report (``suny report``): a resumable SQLite results
store, the runner that fills it (sharded over processes), and the paper's tables from it."""

from suny.benchmark.report import write_report
from suny.benchmark.runner import GridOptions, GridRunner, ModelEntry, RunTotals, Shard
from suny.benchmark.store import ResultStore, merge_stores

__all__ = [
    "GridOptions",
    "GridRunner",
    "ModelEntry",
    "ResultStore",
    "RunTotals",
    "Shard",
    "merge_stores",
    "write_report",
]
