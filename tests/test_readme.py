"""The README's Python examples run as written, one after the other in one namespace (as a reader
pastes them into one session), and print what their comments say."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_examples_run(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 5, "the README's examples: API, several classes, notebook, models, SunyCAM"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for number, block in enumerate(blocks):
        exec(compile(block, f"README.md, Python example {number + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert (tmp_path / "runs" / "api" / "index.html").is_file()
    assert "torch.Size([1, 224, 224])" in out
    assert all(f"{name}: p = " in out for name in ("Egyptian cat", "tiger cat", "tabby"))
    assert "['combined_map', 'necessity', 'necessity_effects'] cpu" in out
    assert "layer4 model.resnet.encoder.stages.1 layer4" in out
    assert "(1, 224, 224) float32" in out


def test_every_picture_the_readme_shows_is_in_the_repository():
    """The pictures are committed files (regenerated with ``suny explain --methods all``, whose
    output names they keep apart from the prefix), each a PNG."""
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README.read_text(encoding="utf-8"))
    assert pictures
    for picture in pictures:
        assert (README.parent / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", picture
