"""Fixtures shared by several test modules."""

import json

import pytest


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A randomly initialised tiny model's ``.weights.h5`` with its ``.json`` config beside it (the trainer's format)."""
    import keras

    from colorlab.models import build_gray2colornet

    keras.utils.set_random_seed(0)
    model = build_gray2colornet("tiny")
    folder = tmp_path_factory.mktemp("weights")
    path = folder / "tiny.weights.h5"
    model.save_weights(path)
    (folder / "tiny.json").write_text(json.dumps({"config": model.config.to_dict()}))
    return path
