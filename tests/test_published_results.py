"""The published numbers follow from the committed runs: the tuning's summary from its
``candidates.csv``, and every number the READMEs quote from the generated tables (the store gives
those tables: ``test_bench_report.test_the_committed_store_gives_the_committed_report``)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from suny.method.suny import DEFAULT_COMBINATION, DEFAULT_SET_SIZE

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
TUNING = RESULTS / "tuning"
LITE0 = "efficientnet-lite0"

#: A quoted difference with its standard error, "+0.016 ± 0.006" or "-0.0013 ± 0.0014" (the sign
#: and the bold around it aside; the prose writes minus as "−").
DIFFERENCE = re.compile(r"[+−-]?(\d+\.\d{3,4}) ± (\d+\.\d{3,4})")


def test_the_tuning_summary_follows_from_its_candidates(tune, tmp_path):
    rows = tune.read_rows(TUNING / "candidates.csv")
    args = argparse.Namespace(step=2240, permutations=16, seed=0, model=LITE0)
    tune.write_summary(tmp_path, rows, args, "a device", 0.0)
    assert (tmp_path / "summary.csv").read_text(encoding="utf-8") == (TUNING / "summary.csv").read_text(
        encoding="utf-8"
    )

    def tables(readme: Path) -> str:  # from the rule's outcome on (the first paragraph names the host)
        text = readme.read_text(encoding="utf-8")
        return text[text.index("Best baseline per metric") :]

    assert tables(tmp_path / "README.md") == tables(TUNING / "README.md")


def report_tables(text: str, model: str) -> dict[str, dict[str, dict[str, str]]]:
    """``tables.md``'s tables of ``model``: title -> method -> column header -> cell text (marks
    removed, the count after a space: "0.123 62", "+0.015 ± 0.008 42/62")."""
    tables: dict[str, dict[str, dict[str, str]]] = {}
    for block in text.split("\n### ")[1:]:
        title = block.split(" — ")[0]
        block = block.split("\n## ")[0]  # the last table ends where the appendices begin
        lines = [line for line in block.splitlines() if line.startswith("| ")]
        if not lines:
            continue
        header = lines[0].strip("| ").split(" | ")
        columns = [i for i, cell in enumerate(header) if cell.startswith(f"{model}<br>")]
        if not columns:
            continue
        tables[title] = {}
        for line in lines[2:]:  # after the header and its rule
            cells = [re.sub(r"\*\*|</?u>|</?sub>", "", cell) for cell in line.strip("| ").split(" | ")]
            tables[title][cells[0]] = {header[i].removeprefix(f"{model}<br>"): cells[i] for i in columns}
    return tables


def readme_results_tables() -> dict[str, tuple[int, dict[str, list[str]]]]:
    """docs/results/README.md's results tables, each after its "From `tables.md` ([model, ]N crops"
    (Lite0 unless it names a model): model -> (the number of crops it says, method -> cells)."""
    text = (RESULTS / "README.md").read_text(encoding="utf-8")
    tables = {}
    for match in re.finditer(r"From `tables\.md` \((?:(efficientnet-lite\d), )?(\d+) crops", text):
        section = text[text.index("\n| method | deletion", match.end()) + 1 :]
        lines = section[: section.index("\n\n")].splitlines()
        assert lines[0].startswith("| method | deletion ↓ | insertion ↑ | overall ↑ | attack score ↑")
        rows = {cells[0]: cells[1:] for line in lines[2:] if (cells := line.strip("| ").split(" | "))}
        tables[match[1] or LITE0] = (int(match[2]), rows)
    return tables


def decided_methods(text: str, model: str) -> dict[str, set[str]]:
    """``tables.md``'s verdict for ``model``: paired metric -> the methods SUNY beats or loses to
    (the report's decision, on the unrounded differences)."""
    decided: dict[str, set[str]] = {}
    for line in text.splitlines():
        cells = line.strip("| ").split(" | ")
        if len(cells) == 6 and cells[1] == model:
            entries = [entry for column in cells[3:5] for entry in column.split("; ")]
            decided[cells[2]] = {re.split(r" [+-]\d", entry)[0] for entry in entries}
    return decided


def test_the_results_readme_has_a_table_of_lite0():
    assert LITE0 in readme_results_tables()


@pytest.mark.parametrize("model", sorted(readme_results_tables()))
def test_the_results_readme_tables_quote_the_generated_tables(model):
    text = (RESULTS / "tables.md").read_text(encoding="utf-8")
    tables = report_tables(text, model)
    verdict = decided_methods(text, model)
    fidelity = tables["Deletion / insertion AUC (Table 1)"]
    attack = next(table for title, table in tables.items() if title.startswith("Saliency attack"))
    pointing = tables["Energy-based pointing game (Table 3)"]
    paired = next(table for title, table in tables.items() if title.startswith("SUNY against each method"))
    crops, rows = readme_results_tables()[model]
    assert set(rows) == set(fidelity)

    def mean(cell: str) -> str:
        value, count = cell.split()
        assert int(count) == crops, cell
        return value

    def difference(method: str, metric: str) -> str:
        text, wins = paired[method][metric].rsplit(" ", 1)
        assert wins.endswith(f"/{crops}"), wins
        text = text.replace("-", "−")
        return f"{f'**{text}**' if method in verdict[metric] else text} ({wins})"

    for method, cells in rows.items():
        expected = [
            mean(fidelity[method]["Del ↓"]),
            mean(fidelity[method]["Ins ↑"]),
            mean(fidelity[method]["Overall ↑"]),
            f"{mean(attack[method]['Score ↑'])} ({mean(attack[method]['Flip rate'])}, "
            f"{mean(attack[method]['Size'])})",
            mean(pointing[method]["Proportion ↑"]),
        ]
        if method in paired:
            expected += [difference(method, "Δ Overall"), difference(method, "Δ Pointing")]
        assert [cell.strip() for cell in cells if cell.strip()] == expected, method


def test_the_readmes_quote_the_counts_of_the_published_runs():
    crops, _ = readme_results_tables()[LITE0]
    tuned = len({row.split(",")[0] for row in (TUNING / "candidates.csv").read_text().splitlines()[1:]})
    results = (RESULTS / "README.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"first {crops} of the 200 crops", results)
    assert re.search(rf"\*\*{tuned} of the\s+200\*\*", results)
    assert re.search(rf"first {crops} crops", readme)
    assert re.search(rf"tuning \({tuned}\s+crops", readme)
    assert f": {tuned} development crops" in (TUNING / "README.md").read_text(encoding="utf-8")


def test_every_difference_the_readmes_quote_is_in_a_generated_table():
    """A stale number left in the prose after the tables were regenerated fails here."""
    generated = {
        match.groups()
        for path in (
            RESULTS / "tables.md",
            TUNING / "README.md",
            RESULTS / "layers" / "README.md",
            RESULTS / "screening" / "README.md",
            *(RESULTS / "screening").glob("replay-*.md"),
        )
        for match in DIFFERENCE.finditer(path.read_text(encoding="utf-8"))
    }
    for path in (RESULTS / "README.md", ROOT / "README.md"):
        quoted = [match.group(0) for match in DIFFERENCE.finditer(path.read_text(encoding="utf-8"))]
        assert quoted, path
        stale = [text for text in quoted if DIFFERENCE.fullmatch(text).groups() not in generated]
        assert not stale, f"{path.name} quotes differences no generated table has: {stale}"


def test_suny_defaults_are_the_tunings_winner(tune):
    """The procedure fixed before looking (all 200 development crops, the rule in tune_suny.py's
    docstring) decides SUNY's set size and combination; the defaults must be what it chose."""
    rows = tune.read_rows(TUNING / "candidates.csv")
    assert len({r["image_id"] for r in rows}) == 200
    winner = tune.summarise(rows)[2]
    cause, size, combination = re.fullmatch(r"suny-(feature|filter) size=(\d+) (\w+)", winner).groups()
    assert (DEFAULT_SET_SIZE[cause], DEFAULT_COMBINATION) == (int(size), combination)


def test_the_layer_table_follows_from_the_committed_stores(layer_question, tmp_path):
    rows = layer_question.load_rows([RESULTS / "results.sqlite", RESULTS / "layers" / "results.sqlite"])
    assert layer_question.write(rows, tmp_path) == (RESULTS / "layers" / "README.md").read_text(
        encoding="utf-8"
    )


def test_the_screening_summary_follows_from_its_rows(screening, tmp_path):
    rows = screening.read_rows(RESULTS / "screening" / "images.csv")
    device = (RESULTS / "screening" / "device.txt").read_text()
    text = screening.write_readme(tmp_path, rows, device)
    expected = (RESULTS / "screening" / "README.md").read_text(encoding="utf-8")
    assert text.split("\n", 3)[3] == expected.split("\n", 3)[3]  # the first lines name the host


@pytest.mark.parametrize("model", ["efficientnet-lite0", "efficientnet-lite2"])
def test_the_replay_tables_follow_from_their_rows(replay, model):
    """Every candidate's agreement and cost in ``replay-MODEL.md`` follow from ``replay-MODEL.csv``."""
    rows = replay.read_replayed(RESULTS / "screening" / f"replay-{model}.csv")
    if not rows:
        pytest.skip(f"{model} has no replay yet")
    ids = sorted({row["image_id"] for row in rows})
    text = (RESULTS / "screening" / f"replay-{model}.md").read_text(encoding="utf-8")
    assert "\n".join(replay.agreement_lines(rows, ids, model)) in text


def test_the_screen_default_is_the_replays_choice(replay):
    """The procedure fixed in ``screening_replay.py`` picks the screen's default setting on the
    frozen Lite0 tuning crops; the library's default must be what it chose."""
    from suny.method.screening import DEFAULT_SETTING

    rows = replay.read_replayed(RESULTS / "screening" / "replay-efficientnet-lite0.csv")
    tuning = sorted(replay.tuning_ids("efficientnet-lite0"))
    assert len(tuning) == 42 and {row["image_id"] for row in rows} >= set(tuning)
    assert replay.chosen_setting(rows, replay.SETTINGS, tuning) == DEFAULT_SETTING
