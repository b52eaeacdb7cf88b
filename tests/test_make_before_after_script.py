"""scripts/make_before_after.py (the README's picture) on a tiny fake Places365 folder: the grid it draws, and its
refusal to overwrite."""

import pytest
from PIL import Image

from places_tree import write_places_tree
from scripts_loader import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("make_before_after")


def test_draws_one_row_per_pair_and_never_overwrites(script, tmp_path, capsys):
    root = write_places_tree(tmp_path / "places", (48, 48), (40, 64))   # its val split: 2 photos
    out = tmp_path / "docs" / "before_after.jpg"
    out.parent.mkdir()
    assert script.main(["--data", str(root), "--out", str(out), "--rows", "4", "--cell", "32", "--adapt", "0"]) == 0
    with Image.open(out) as picture:
        assert picture.format == "JPEG"
        # 7 columns (gray input, reference, 3 baselines, the model as trained, the truth); a 20 px header + 2 rows
        assert picture.size == (7 * 32, 20 + 2 * 32)
    assert sorted(p.name for p in out.parent.iterdir()) == ["before_after.jpg"]   # no temporary left behind
    before = out.read_bytes()
    assert script.main(["--data", str(root), "--out", str(out), "--cell", "32"]) == 2
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_with_adapt_the_adapted_model_gets_its_own_column(script, tmp_path, weights):
    root = write_places_tree(tmp_path / "places", (48, 48), (40, 64))
    out = tmp_path / "adapted.jpg"
    assert script.main(["--data", str(root), "--out", str(out), "--cell", "32", "--weights", str(weights),
                        "--adapt", "1"]) == 0
    with Image.open(out) as picture:
        assert picture.size == (8 * 32, 20 + 2 * 32)     # one more column than without --adapt
