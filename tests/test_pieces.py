"""``build_gray2colornet(..., pieces=...)``: a notebook's own layer classes in place of the package's."""

import numpy as np
import pytest

import keras

from colorlab.errors import ConfigError
from colorlab.models import (PIECES, Correspondence, DecoderStage, GatedFusion, build_gray2colornet)


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, (1, 24, 40, 1)).astype("float32"), rng.uniform(-1, 1, (1, 32, 16, 3)).astype("float32")]


class Doubled(GatedFusion):
    """A fusion that differs from the package's, to show the piece is really used."""

    def call(self, warped, global_vector, omega):
        return 2.0 * super().call(warped, global_vector, omega)


class Copy(DecoderStage):
    pass


class Sharper(Correspondence):
    def attention(self, correlation, reference_mask=None):
        self.calls = getattr(self, "calls", 0) + 1
        return super().attention(correlation, reference_mask)


def test_pieces_are_used_and_keep_the_weights_and_the_config():
    package = build_gray2colornet("tiny")
    model = build_gray2colornet("tiny", pieces={"fusion": Doubled, "decoder_stage": Copy,
                                                "correspondence": Sharper})
    assert [w.shape for w in model.weights] == [w.shape for w in package.weights]
    assert type(model.gcfn.fusion) is Doubled and all(type(s) is Copy for s in model.mcn.stages)
    assert type(model.correspondence) is Sharper
    model.set_weights(package.get_weights())
    _, ours = model(_inputs(), return_internals=True)
    _, theirs = package(_inputs(), return_internals=True)
    assert model.correspondence.calls >= 1
    for fused, expected in zip(ours["fused"], theirs["fused"]):
        np.testing.assert_allclose(fused, 2.0 * keras.ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-5)
    assert model.get_config()["config"] == package.get_config()["config"]


def test_an_identical_piece_gives_identical_outputs():
    package = build_gray2colornet("tiny")
    model = build_gray2colornet("tiny", pieces={"decoder_stage": Copy})
    model.set_weights(package.get_weights())
    for key, value in package(_inputs(1)).items():
        np.testing.assert_allclose(model(_inputs(1))[key], value, atol=1e-6)


@pytest.mark.parametrize("pieces, message", [
    ({"encoder": GatedFusion}, r"unknown piece 'encoder': the pieces a notebook can replace are \['correspondence'"),
    ({"fusion": GatedFusion()}, "piece 'fusion' must be a keras.layers.Layer subclass"),
    ({"fusion": int}, "piece 'fusion' must be a keras.layers.Layer subclass"),
])
def test_bad_pieces_are_config_errors(pieces, message):
    with pytest.raises(ConfigError, match=message):
        build_gray2colornet("tiny", pieces=pieces)


def test_pieces_name_the_package_classes_they_replace():
    assert PIECES == {"correspondence": Correspondence, "fusion": GatedFusion, "decoder_stage": DecoderStage}
