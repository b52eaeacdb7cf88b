"""scripts/train_variants.py on a tiny Places365-layout folder with the `tiny` config as --base: a fine-tune
variant starts from --init at another working size, trains exactly --steps steps and exports weights that colour
at the new size; a fine-tune without --init is refused. Offline and CI-safe (the `weights` fixture is tiny)."""

import json

import numpy as np
import pytest

from places_tree import write_places_tree
from scripts_loader import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("train_variants")


def test_a_fine_tune_changes_the_working_size_and_trains_the_given_steps(script, weights, tmp_path):
    from colorlab.models import load_generator, read_config

    corpus = write_places_tree(tmp_path / "corpus", (40, 48), (40, 48))
    out = tmp_path / "run"
    assert script.main(["--variant", "64-ft", "--base", "tiny", "--init", str(weights), "--data", str(corpus),
                        "--steps", "3", "--chunk", "2", "--batch-size", "2", "--out", str(out)]) == 0
    summary = json.loads((out / "variant.json").read_text())
    assert summary["steps"] == 3 and summary["pairs"] == 6 and summary["config"] == "tiny64"
    assert np.isfinite(summary["loss"])
    exported = out / "generator.weights.h5"
    config = read_config(exported)
    assert (config.image_size, config.reference_size, config.base_width) == (64, 64, 8)
    trained, start = load_generator(exported), load_generator(weights)
    moved = [not np.array_equal(a, b) for a, b in zip(trained.get_weights(), start.get_weights())]
    assert any(moved)   # fine-tuned from --init, not left as it was


def test_a_fine_tune_needs_init(script, tmp_path):
    with pytest.raises(SystemExit):
        script.main(["--variant", "96-ft", "--data", str(tmp_path), "--steps", "1", "--out", str(tmp_path / "x")])
