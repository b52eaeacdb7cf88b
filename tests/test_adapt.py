"""colorlab.adapt: self-supervised pairs from one reference, and a generator copy adapted to it."""

import keras
import numpy as np
import pytest

from colorlab.adapt import ReferenceAdapter, reference_pairs
from colorlab.errors import ConfigError
from colorlab.models import build_gray2colornet


@pytest.fixture(autouse=True)
def fresh_adapters():
    """Colorizers share adapters across the process (colorlab.adapt.shared_adapter): each test starts without any,
    so that its counts of adaptations are its own."""
    from colorlab.adapt import clear_shared_adapters

    clear_shared_adapters()
    yield
    clear_shared_adapters()


def _values(variables):
    return [keras.ops.convert_to_numpy(v.value).copy() for v in variables]


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_gray2colornet("tiny")


@pytest.fixture(scope="module")
def reference():
    rng = np.random.default_rng(1)
    lab = np.empty((40, 56, 3), np.float32)
    lab[..., 0] = np.linspace(-0.8, 0.8, 56)[None, :]          # a lightness ramp
    lab[..., 1] = np.where(np.arange(40)[:, None] < 20, 0.4, -0.3)   # two colour regions
    lab[..., 2] = rng.uniform(-0.2, 0.2, (40, 56))
    return lab


@pytest.fixture(scope="module")
def adapter(model):
    """One compiled adapter for several tests (compiling is most of an adaptation's cost on a fresh shape)."""
    return ReferenceAdapter(model, steps=3, batch_size=2, learning_rate=1e-3, parts="all", seed=4)


def test_pairs_are_cut_from_the_reference(reference):
    pairs = reference_pairs(reference, 6, 16, np.random.default_rng(0))
    assert pairs["target_l"].shape == (6, 16, 16, 1) and pairs["target_ab"].shape == (6, 16, 16, 2)
    assert pairs["reference_lab"].shape == (6, 40, 56, 3)
    np.testing.assert_array_equal(pairs["reference_lab"][3], reference)
    squashed = reference_pairs(reference, 2, 16, np.random.default_rng(0), exemplar_size=24)["reference_lab"]
    assert squashed.shape == (2, 24, 24, 3)
    assert abs(float(squashed[..., 1].mean()) - float(reference[..., 1].mean())) < 0.02
    for channel, values in ((0, pairs["target_l"]), (1, pairs["target_ab"][..., :1])):
        low, high = reference[..., channel].min(), reference[..., channel].max()
        assert low - 1e-5 <= values.min() and values.max() <= high + 1e-5
    again = reference_pairs(reference, 6, 16, np.random.default_rng(0))
    np.testing.assert_array_equal(again["target_ab"], pairs["target_ab"])
    other = reference_pairs(reference, 6, 16, np.random.default_rng(5))
    assert not np.array_equal(other["target_ab"], pairs["target_ab"])


def test_a_whole_crop_of_a_square_reference_is_the_reference_resized():
    square = np.random.default_rng(2).uniform(-1, 1, (16, 16, 3)).astype(np.float32)
    pairs = reference_pairs(square, 8, 16, np.random.default_rng(0), min_crop=1.0)
    for target_l, target_ab in zip(pairs["target_l"], pairs["target_ab"]):
        crop = np.concatenate([target_l, target_ab], axis=-1)
        assert np.allclose(crop, square, atol=1e-6) or np.allclose(crop, square[:, ::-1], atol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(count=0), dict(size=4), dict(min_crop=0.0), dict(min_crop=1.5),
                                    dict(exemplar_size=4)])
def test_pairs_refuse_bad_arguments(reference, kwargs):
    arguments = {**dict(count=2, size=16), **kwargs}
    with pytest.raises(ConfigError):
        reference_pairs(reference, rng=np.random.default_rng(0), **arguments)


@pytest.mark.parametrize("kwargs", [dict(steps=-1), dict(steps=2.5), dict(learning_rate=0), dict(batch_size=0),
                                    dict(parts="encoder"), dict(seed=-3), dict(crop_size=4), dict(min_crop=0)])
def test_the_adapter_refuses_bad_settings(model, kwargs):
    with pytest.raises(ConfigError):
        ReferenceAdapter(model, **kwargs)


def test_adapting_moves_a_copy_and_never_the_model(model, reference, adapter):
    before = _values(model.variables)
    adapted = adapter.adapt(reference)
    assert adapted is not model and len(adapter.losses) == 3 and np.all(np.isfinite(adapter.losses))
    for value, original in zip(_values(model.variables), before):
        np.testing.assert_array_equal(value, original)
    changed = [not np.array_equal(a, b) for a, b in zip(_values(adapted.trainable_variables),
                                                        _values(model.trainable_variables))]
    assert sum(changed) > len(changed) // 2


def test_zero_steps_is_the_model_itself(model, reference):
    adapted = ReferenceAdapter(model, steps=0).adapt(reference)
    for a, b in zip(_values(adapted.variables), _values(model.variables)):
        np.testing.assert_array_equal(a, b)


def test_an_adaptation_is_a_function_of_reference_and_seed(reference, adapter):
    first = _values(adapter.adapt(reference).trainable_variables)
    first_losses = list(adapter.losses)
    second = _values(adapter.adapt(reference).trainable_variables)   # the optimiser starts afresh each time
    assert adapter.losses == first_losses
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    adapter.seed = 5
    try:
        third = _values(adapter.adapt(reference).trainable_variables)
    finally:
        adapter.seed = 4
    assert any(not np.array_equal(a, b) for a, b in zip(first, third))


def test_decoder_only_adaptation_keeps_the_encoders(model, reference):
    adapter = ReferenceAdapter(model, steps=2, batch_size=2, learning_rate=1e-3, parts="decoder")
    adapted = adapter.adapt(reference)
    for part in ("encoder", "color_encoder"):
        for a, b in zip(_values(getattr(adapted, part).trainable_variables),
                        _values(getattr(model, part).trainable_variables)):
            np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(_values(adapted.mcn.trainable_variables),
                                                        _values(model.mcn.trainable_variables)))


def test_adapting_lowers_the_loss_on_the_references_own_crops(model, reference):
    from colorlab import losses

    held_out = reference_pairs(reference, 8, 32, np.random.default_rng(99))

    def loss_of(network):
        outputs = network([held_out["target_l"], held_out["reference_lab"]])
        total, _ = losses.generator_loss(outputs, held_out["target_ab"], held_out["reference_lab"][..., 1:])
        return float(keras.ops.convert_to_numpy(total))

    adapter = ReferenceAdapter(model, steps=25, batch_size=4, learning_rate=3e-3, parts="all")
    assert loss_of(adapter.adapt(reference)) < 0.9 * loss_of(model)



# --------------------------------------------------------------------------------------- replay (corpus pairs)
def _bank(model, count, seed):
    rng = np.random.default_rng(seed)
    s, r = model.config.image_size, model.config.reference_size
    return {"target_l": rng.uniform(-1, 1, (count, s, s, 1)).astype(np.float32),
            "target_ab": rng.uniform(-0.3, 0.3, (count, s, s, 2)).astype(np.float32),
            "reference_lab": rng.uniform(-1, 1, (count, r, r, 3)).astype(np.float32)}


def test_replay_pairs_come_from_the_corpus_and_a_bank_round_trips(tmp_path, model):
    from places_tree import write_places_tree

    from colorlab.adapt import load_replay_bank, replay_pairs, save_replay_bank

    root = write_places_tree(tmp_path / "corpus", train_sizes=(40, 48), val_size=(40, 40))
    bank = replay_pairs(root, model.config, 4, seed=1)
    s, r = model.config.image_size, model.config.reference_size
    assert {k: v.shape for k, v in bank.items()} == {"target_l": (4, s, s, 1), "target_ab": (4, s, s, 2),
                                                     "reference_lab": (4, r, r, 3)}
    assert bank["target_ab"].std() > 0.01                      # colour photos, not blanks
    save_replay_bank(tmp_path / "bank.npz", bank)
    back = load_replay_bank(tmp_path / "bank.npz", s, r)
    for key in bank:
        np.testing.assert_array_equal(back[key], bank[key])
    with pytest.raises(ConfigError, match="expected"):
        load_replay_bank(tmp_path / "bank.npz", s + 8, r)
    (tmp_path / "junk.npz").write_bytes(b"not a bank")
    with pytest.raises(ConfigError, match="cannot read replay bank"):
        load_replay_bank(tmp_path / "junk.npz", s, r)


def test_replay_needs_a_bank_that_fits(model, tmp_path):
    from colorlab.adapt import save_replay_bank

    with pytest.raises(ConfigError, match="replay_bank"):
        ReferenceAdapter(model, replay=2)
    with pytest.raises(ConfigError, match="replay must be"):
        ReferenceAdapter(model, replay=-1, replay_bank="x.npz")
    small = _bank(model, 3, 0)
    small["target_l"] = small["target_l"][:, :8, :8]
    save_replay_bank(tmp_path / "small.npz", small)
    with pytest.raises(ConfigError, match="target_l has shape"):
        ReferenceAdapter(model, replay=2, replay_bank=tmp_path / "small.npz")
    with pytest.raises(ConfigError, match="cannot read"):
        ReferenceAdapter(model, replay=2, replay_bank=tmp_path / "missing.npz")


def test_each_step_takes_its_reference_pairs_and_then_bank_pairs(model, reference, tmp_path, monkeypatch):
    from colorlab.adapt import save_replay_bank

    bank = _bank(model, 5, 3)
    save_replay_bank(tmp_path / "bank.npz", bank)
    seen = {}

    def recording(adapter, name):
        step = adapter._compile()
        monkeypatch.setattr(adapter, "_compile", lambda: lambda *args: (
            seen.setdefault(name, []).append({k: keras.ops.convert_to_numpy(v) for k, v in args[-1].items()})
            or step(*args)))

    plain = ReferenceAdapter(model, steps=3, batch_size=2, seed=7)
    mixed = ReferenceAdapter(model, steps=3, batch_size=2, seed=7, replay=3, replay_bank=tmp_path / "bank.npz")
    for name, adapter in (("plain", plain), ("mixed", mixed)):
        recording(adapter, name)
        adapter.adapt(reference)
    assert len(seen["mixed"]) == 3
    for plain_batch, mixed_batch in zip(seen["plain"], seen["mixed"]):
        for key, value in mixed_batch.items():
            assert len(value) == 5
            np.testing.assert_array_equal(value[:2], plain_batch[key])      # the reference's own pairs first
            for row in value[2:]:                                          # then pairs of the bank
                assert any(np.array_equal(row, candidate) for candidate in bank[key])


def test_replay_changes_the_adaptation_and_colorize_takes_it(model, reference, photos, tmp_path):
    from colorlab.adapt import save_replay_bank
    from colorlab.inference import Colorizer

    save_replay_bank(tmp_path / "bank.npz", _bank(model, 6, 4))
    plain = _values(ReferenceAdapter(model, steps=2, batch_size=2, learning_rate=1e-3).adapt(reference).variables)
    mixed = ReferenceAdapter(model, steps=2, batch_size=2, learning_rate=1e-3, replay=2,
                             replay_bank=tmp_path / "bank.npz").adapt(reference)
    assert any(not np.allclose(a, b) for a, b in zip(plain, _values(mixed.variables)))
    target, photo = photos
    options = {"replay": 2, "replay_bank": tmp_path / "bank.npz"}
    with_replay = Colorizer(model, adapt=2, seed=1, adapt_options=options).colour(target, photo)
    without = Colorizer(model, adapt=2, seed=1).colour(target, photo)
    assert with_replay.shape == without.shape and not np.array_equal(with_replay, without)


# --------------------------------------------------------------------------------------- colorize(adapt=N)
@pytest.fixture(scope="module")
def photos():
    rng = np.random.default_rng(3)
    x = np.linspace(0, 1, 48, dtype=np.float32)
    target = np.stack([np.outer(np.linspace(0.2, 0.9, 32), x)] * 3, axis=-1)              # a gray ramp (32, 48, 3)
    reference = np.clip(rng.uniform(0, 1, (40, 40, 3)) * [1.0, 0.3, 0.2], 0, 1).astype(np.float32)   # reds
    return target.astype(np.float32), reference


def test_colorize_adapts_a_copy_deterministically_and_adapt_0_is_unchanged(model, photos):
    from colorlab.inference import colorize

    target, reference = photos
    before = _values(model.variables)
    plain = np.asarray(colorize(target, reference, weights=model))
    assert np.array_equal(np.asarray(colorize(target, reference, weights=model, adapt=0)), plain)
    adapted = np.asarray(colorize(target, reference, weights=model, adapt=3, seed=1))
    assert adapted.shape == plain.shape and not np.array_equal(adapted, plain)
    again = np.asarray(colorize(target, reference, weights=model, adapt=3, seed=1))
    assert np.abs(again.astype(int) - adapted.astype(int)).max() <= 1     # same pairs, same steps (8-bit rounding)
    for value, old in zip(_values(model.variables), before):
        np.testing.assert_array_equal(value, old)                          # the given model never moves
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="adapt must be an integer >= 0"):
            colorize(target, reference, weights=model, adapt=bad)


@pytest.fixture
def adapt_calls(monkeypatch):
    """A list that gets one entry per ``ReferenceAdapter.adapt`` call (which still runs)."""
    calls = []
    real = ReferenceAdapter.adapt
    monkeypatch.setattr(ReferenceAdapter, "adapt", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    return calls


def test_colorizer_adapts_once_per_reference(model, photos, adapt_calls):
    from colorlab.inference import Colorizer

    calls = adapt_calls
    colorizer = Colorizer(model, adapt=2)
    reference_lab = colorizer.prepare_reference(photos[1])
    adapted = colorizer.use_reference(reference_lab)
    assert adapted is colorizer.model and adapted is not colorizer.trained is model
    assert colorizer.use_reference(reference_lab.copy()) is adapted and len(calls) == 1    # same content: reused
    colorizer.use_reference(colorizer.prepare_reference(photos[1][::-1]))
    assert len(calls) == 2
    assert Colorizer(model).use_reference(reference_lab) is model                          # adapt=0: the model


def test_colorizer_colour_is_colorize_and_takes_the_adapters_options(model, photos):
    from colorlab.inference import Colorizer, colorize

    target, reference = photos
    assert np.array_equal(Colorizer(model).colour(target, reference), np.asarray(colorize(target, reference,
                                                                                          weights=model)))
    adapted = Colorizer(model, adapt=2, seed=1).colour(target, reference)
    same = np.asarray(colorize(target, reference, weights=model, adapt=2, seed=1))
    assert np.abs(adapted.astype(int) - same.astype(int)).max() <= 1    # same pairs and steps (8-bit rounding)
    decoder = Colorizer(model, adapt=2, seed=1, adapt_options={"parts": "decoder", "learning_rate": 1e-3})
    assert decoder.colour(target, reference).shape == adapted.shape
    assert not np.array_equal(decoder.colour(target, reference), adapted)
    with pytest.raises(ConfigError, match=r"unknown adapt_options \['steps'\]"):
        Colorizer(model, adapt=2, adapt_options={"steps": 3})
    with pytest.raises(ConfigError, match="parts must be one of"):
        Colorizer(model, adapt=2, adapt_options={"parts": "encoder"})


def test_the_command_line_adapts_with_a_flag(model, photos, tmp_path, capsys):
    from PIL import Image

    from colorlab.cli import main
    from colorlab.models import save_generator

    weights, _ = save_generator(model, tmp_path / "tiny.weights.h5")
    target, reference = tmp_path / "gray.png", tmp_path / "reference.png"
    Image.fromarray((photos[0] * 255).astype(np.uint8)).save(target)
    Image.fromarray((photos[1] * 255).astype(np.uint8)).save(reference)
    out = tmp_path / "out.png"
    assert main(["colorize", str(target), "-r", str(reference), "-o", str(out), "-w", str(weights),
                 "--adapt", "2"]) == 0
    assert Image.open(out).size == (48, 32)
    assert main(["colorize", str(target), "-r", str(reference), "-o", str(tmp_path / "x.png"), "-w",
                 str(weights), "--adapt", "-3"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "colorlab: error: colorize: adapt must be an integer >= 0, got -3"


def test_the_command_line_gates_the_adaptation_on_the_match(model, photos, tmp_path, capsys, adapt_calls):
    from PIL import Image

    from colorlab.cli import main
    from colorlab.models import save_generator

    weights, _ = save_generator(model, tmp_path / "tiny.weights.h5")
    target, reference = tmp_path / "gray.png", tmp_path / "reference.png"
    Image.fromarray((photos[0] * 255).astype(np.uint8)).save(target)
    Image.fromarray((photos[1] * 255).astype(np.uint8)).save(reference)
    base = ["colorize", str(target), "-r", str(reference), "-w", str(weights), "--adapt", "2"]
    assert main([*base, "-o", str(tmp_path / "never.png"), "--adapt-min-match", "1"]) == 0
    assert adapt_calls == []                                  # a match below 1: coloured by the trained model
    assert main(["colorize", str(target), "-r", str(reference), "-w", str(weights),
                 "-o", str(tmp_path / "plain.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "never.png")),
                          np.asarray(Image.open(tmp_path / "plain.png")))
    assert main([*base, "-o", str(tmp_path / "always.png"), "--adapt-min-match", "-1"]) == 0
    assert len(adapt_calls) == 1
    assert main([*base, "-o", str(tmp_path / "bad.png"), "--adapt-min-match", "2"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        "colorlab: error: colorize: adapt_options min_match must be a number in [-1, 1]")
    assert not (tmp_path / "bad.png").exists()


def test_a_clip_adapts_once_for_all_its_frames(model, photos, adapt_calls, monkeypatch):
    from colorlab.inference import Colorizer
    from colorlab.video import colorize_frames

    calls, used = adapt_calls, []
    real = Colorizer.use_reference
    monkeypatch.setattr(Colorizer, "use_reference", lambda self, *a, **k: used.append(1) or real(self, *a, **k))
    frames = np.repeat((photos[0][None] * 255).astype(np.uint8), 5, axis=0)      # 5 frames, batches of 2
    plain = colorize_frames(frames, photos[1], weights=model, batch_size=2)
    assert calls == []
    adapted = colorize_frames(frames, photos[1], weights=model, batch_size=2, adapt=2)
    assert len(calls) == 1 and adapted.shape == plain.shape and not np.array_equal(adapted, plain)
    assert len(used) == 2      # once per clip (the reference is looked up once, not once per batch of frames)


def test_adaptation_is_skipped_for_a_reference_that_does_not_match(model, photos, adapt_calls):
    """min_match: the trained model's match decides; 1.0 never adapts, -1 always does; bad values are refused."""
    from colorlab.inference import Colorizer

    target, reference = photos
    strict = Colorizer(model, adapt=2, adapt_options={"min_match": 1.0})
    l_small = strict.working_lightness(target[..., 0] * 100.0)
    reference_lab = strict.prepare_reference(reference)
    assert strict.use_reference(reference_lab, l_small) is strict.trained and adapt_calls == []
    assert -1.0 <= strict.last_match < 1.0
    assert strict.use_reference(reference_lab) is not strict.trained and len(adapt_calls) == 1   # no target: adapts
    always = Colorizer(model, adapt=2, adapt_options={"min_match": -1.0})
    assert always.use_reference(reference_lab, l_small) is not always.trained and always.last_match is None
    for bad in (1.5, "high", True):
        with pytest.raises(ConfigError, match="min_match must be a number in"):
            Colorizer(model, adapt=2, adapt_options={"min_match": bad})


def test_a_reference_matches_itself_better_than_noise(model, photos):
    """Identical patches have identical features (cosine 1): the target's own colour picture matches it
    perfectly, a noise reference does not."""
    from colorlab.inference import Colorizer

    target, reference = photos
    from colorlab.cie import image_lightness

    colorizer = Colorizer(model)
    l_small = colorizer.working_lightness(image_lightness(target))
    itself = colorizer.match(l_small, colorizer.prepare_reference(target, l_small.shape))
    noise = colorizer.match(l_small, colorizer.prepare_reference(reference, l_small.shape))
    assert itself == pytest.approx(1.0, abs=1e-4) and noise < itself - 0.05


@pytest.fixture
def recommending(model, tmp_path):
    """Saves the tiny model with an "adapt" recommendation in its .json; returns a function that rewrites it."""
    import json

    from colorlab.models import save_generator

    weights, config_path = save_generator(model, tmp_path / "tiny.weights.h5")

    def recommend(entry):
        data = json.loads(config_path.read_text())
        data["adapt"] = entry
        config_path.write_text(json.dumps(data))
        return weights

    return recommend


def test_weights_recommend_their_adaptation_and_adapt_none_follows_it(model, photos, recommending, adapt_calls):
    from colorlab.inference import Colorizer, colorize, resolve_adaptation
    from colorlab.models import generator_adaptation, save_generator

    target, reference = photos
    weights = recommending({"steps": 2, "learning_rate": 1e-3, "min_match": -1})
    assert generator_adaptation(weights) == {"steps": 2, "learning_rate": 1e-3, "min_match": -1}
    assert resolve_adaptation(weights, None, {"min_match": 0.5}) == (2, {"learning_rate": 1e-3, "min_match": 0.5})
    assert resolve_adaptation(weights, 3, {"parts": "all"}) == (3, {"parts": "all"})   # an integer: as it is
    assert resolve_adaptation(model, None) == (0, {})                                    # a built model: none
    default = np.asarray(colorize(target, reference, weights=weights))
    assert len(adapt_calls) == 1
    explicit = np.asarray(colorize(target, reference, weights=model, adapt=2,
                                   adapt_options={"learning_rate": 1e-3}))
    assert np.abs(default.astype(int) - explicit.astype(int)).max() <= 1     # the same adaptation
    assert np.array_equal(np.asarray(colorize(target, reference, weights=weights, adapt=0)),
                          np.asarray(colorize(target, reference, weights=model)))
    assert len(adapt_calls) == 2
    colorize(target, reference, weights=weights, adapt_options={"min_match": 1.0})   # an option overridden
    assert len(adapt_calls) == 2
    assert Colorizer(weights).adapt_options == {"learning_rate": 1e-3, "min_match": -1}
    plain, _ = save_generator(model, weights.parent / "plain.weights.h5")             # no recommendation: off
    assert generator_adaptation(plain) == {} and Colorizer(plain).adapt == 0


@pytest.mark.parametrize("entry", [{"steps": "10"}, {"steps": -1}, {"steps": True}, {"learning_rate": 1e-3},
                                   {"steps": 2, "colour": "red"}, [2]])
def test_a_bad_recommendation_is_refused_naming_the_file(recommending, entry):
    from colorlab.inference import Colorizer

    weights = recommending(entry)
    with pytest.raises(ConfigError, match=r"tiny\.json.*\"adapt\" must be a dict"):
        Colorizer(weights)


def test_the_demo_weights_recommend_a_gated_adaptation_the_colorizer_accepts():
    from colorlab.adapt import ReferenceAdapter
    from colorlab.inference import resolve_adaptation
    from colorlab.models import generator_adaptation

    recommended = generator_adaptation(None)
    steps, options = resolve_adaptation(None, None)
    assert steps == recommended["steps"] > 0 and 0 < options["min_match"] < 1
    options.pop("min_match")
    ReferenceAdapter(build_gray2colornet("tiny"), steps=steps, **options)    # every option is a valid one


def test_a_clip_and_the_command_line_follow_the_recommendation(model, photos, recommending, adapt_calls,
                                                                tmp_path):
    from PIL import Image

    from colorlab.cli import main
    from colorlab.video import colorize_frames

    weights = recommending({"steps": 2, "min_match": 1.0})
    frames = np.repeat((photos[0][None] * 255).astype(np.uint8), 3, axis=0)
    colorize_frames(frames, photos[1], weights=weights, batch_size=2)
    assert len(adapt_calls) == 1                      # a clip adapts before any frame is known: no gate
    colorize_frames(frames, photos[1], weights=weights, batch_size=2, adapt=0)
    assert len(adapt_calls) == 1
    target, reference = tmp_path / "gray.png", tmp_path / "reference.png"
    Image.fromarray((photos[0] * 255).astype(np.uint8)).save(target)
    Image.fromarray((photos[1] * 255).astype(np.uint8)).save(reference)
    base = ["colorize", str(target), "-r", str(reference), "-w", str(weights)]
    assert main([*base, "-o", str(tmp_path / "gated.png")]) == 0 and len(adapt_calls) == 1   # min_match 1: no
    assert main([*base, "-o", str(tmp_path / "always.png"), "--adapt-min-match", "-1"]) == 0
    assert len(adapt_calls) == 2


def test_colorizers_share_one_adapter_and_never_colour_with_another_references_weights(model, photos,
                                                                                         adapt_calls):
    from colorlab.adapt import SHARED_ADAPTERS, clear_shared_adapters, shared_adapter
    from colorlab.inference import Colorizer

    target, reference = photos
    first, second = Colorizer(model, adapt=2, seed=3), Colorizer(model, adapt=2, seed=3)
    ref_a = first.prepare_reference(reference)
    ref_b = first.prepare_reference(np.ascontiguousarray(reference[::-1]))
    l_small = first.working_lightness(target[..., 0] * 100.0)
    adapted = first.use_reference(ref_a)
    assert adapted is shared_adapter(model, steps=2, seed=3).adapted and len(adapt_calls) == 1
    out_a = first.predict_ab(l_small[None], ref_a)
    assert second.use_reference(ref_a) is adapted and len(adapt_calls) == 1          # shared: not adapted again
    second.use_reference(ref_b)                                                     # the shared copy moves to b
    assert len(adapt_calls) == 2
    again = first.predict_ab(l_small[None], ref_a)                                  # first notices, adapts back
    assert len(adapt_calls) == 3
    np.testing.assert_allclose(again, out_a, rtol=0, atol=1e-4)
    assert shared_adapter(model, steps=2, seed=4) is not shared_adapter(model, steps=2, seed=3)   # other settings
    for seed in range(SHARED_ADAPTERS + 1):                                          # only the last few are kept
        shared_adapter(model, steps=1, seed=seed)
    assert shared_adapter(model, steps=2, seed=3).reference_key is None             # made afresh
    clear_shared_adapters()
    assert shared_adapter(model, steps=1, seed=0).reference_key is None


def test_chapter_10s_trace_adapts_as_colorize_frames_does(photos, recommending, adapt_calls):
    pytest.importorskip("matplotlib")                  # the course helpers draw (the "notebooks" extra)
    from colorlab.course import ch10_video as course10
    from colorlab.video import colorize_frames

    weights = recommending({"steps": 2})
    frames = np.repeat((photos[0][None] * 255).astype(np.uint8), 3, axis=0)
    coloured = colorize_frames(frames, photos[1], weights=weights, batch_size=2)
    trace = course10.trace_clip(frames, photos[1], weights=weights, batch_size=2)
    assert len(adapt_calls) == 1                      # the same adaptation, shared
    assert np.array_equal(trace.coloured, coloured)
    course10.trace_clip(frames, photos[1], weights=weights, batch_size=2, adapt=0)
    assert len(adapt_calls) == 1
