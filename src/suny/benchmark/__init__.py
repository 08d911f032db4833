"""The evaluation grid (``suny bench``): a resumable SQLite results store and the runner that fills
it (sharded over processes). Its report (``suny report``) is :mod:`suny.report`."""

from suny.benchmark.configuration import GridOptions, ModelEntry
from suny.benchmark.merge import merge_stores
from suny.benchmark.runner import GridRunner, RunTotals, Shard
from suny.benchmark.store import ResultStore

__all__ = [
    "GridOptions",
    "GridRunner",
    "ModelEntry",
    "ResultStore",
    "RunTotals",
    "Shard",
    "merge_stores",
]
