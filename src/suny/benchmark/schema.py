"""The tables of the results store (:class:`~suny.benchmark.store.ResultStore`):

- ``configs``: one row per (model, method) configuration: its hash and its settings as JSON
  (weights, layer, method options, metric settings, and what the report needs: the number of
  pixels, the sanity check's layer groups);
- ``runs``: one row per process that ran (host, rank, device, command, start and end, images
  computed and skipped, resident memory at the start and the end, the suny release);
- ``results``: one scalar per (dataset, image, class, model, method, metric, seed, config) with
  the seconds it took;
- ``curves``: the deletion/insertion curves and the sanity check's similarity per step, as
  float32 arrays, with the same key;
- ``explanations``: the seconds each explanation took, and for the first few images of a dataset
  the map itself (8-bit PNG) for the report's gallery; ``images`` holds those images as the model
  saw them.

This is the schema at :data:`~suny.benchmark.migrations.SCHEMA_VERSION`; older stores are brought
to it by :func:`~suny.benchmark.migrations.migrate`.
"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS configs (
    config TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    method TEXT NOT NULL,
    settings TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run INTEGER PRIMARY KEY AUTOINCREMENT,
    host TEXT NOT NULL,
    rank INTEGER NOT NULL,
    world_size INTEGER NOT NULL,
    device TEXT NOT NULL,
    command TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    images INTEGER,
    computed INTEGER,
    skipped INTEGER,
    rss_start_mib REAL,
    rss_end_mib REAL,
    suny_version TEXT,
    UNIQUE (host, rank, world_size, started)
);
CREATE TABLE IF NOT EXISTS results (
    dataset TEXT NOT NULL, image_id TEXT NOT NULL, class INTEGER NOT NULL, model TEXT NOT NULL,
    method TEXT NOT NULL, metric TEXT NOT NULL, seed INTEGER NOT NULL, config TEXT NOT NULL,
    value REAL,
    seconds REAL NOT NULL,
    run INTEGER,
    created REAL NOT NULL,
    UNIQUE (dataset, image_id, class, model, method, metric, seed, config)
);
CREATE TABLE IF NOT EXISTS curves (
    dataset TEXT NOT NULL, image_id TEXT NOT NULL, class INTEGER NOT NULL, model TEXT NOT NULL,
    method TEXT NOT NULL, curve TEXT NOT NULL, seed INTEGER NOT NULL, config TEXT NOT NULL,
    points BLOB NOT NULL,
    UNIQUE (dataset, image_id, class, model, method, curve, seed, config)
);
CREATE TABLE IF NOT EXISTS explanations (
    dataset TEXT NOT NULL, image_id TEXT NOT NULL, class INTEGER NOT NULL, model TEXT NOT NULL,
    method TEXT NOT NULL, seed INTEGER NOT NULL, config TEXT NOT NULL,
    seconds REAL NOT NULL,
    map BLOB,
    run INTEGER,
    created REAL NOT NULL,
    UNIQUE (dataset, image_id, class, model, method, seed, config)
);
CREATE TABLE IF NOT EXISTS images (
    dataset TEXT NOT NULL, image_id TEXT NOT NULL, model TEXT NOT NULL,
    picture BLOB NOT NULL,
    UNIQUE (dataset, image_id, model)
);
"""
#: Tables that :func:`~suny.benchmark.merge.merge_stores` copies row by row (``runs`` first, with new
#: ids that the copied rows' ``run`` then points at).
DATA_TABLES = ("configs", "results", "curves", "explanations", "images")
