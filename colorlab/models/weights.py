"""A generator on disk: ``x.weights.h5`` (Keras' weights format: no code runs when it loads, any backend reads it)
with its config beside it in ``x.json``, ``{"config": Gray2ColorConfig.to_dict()}``, and optionally the
reference adaptation these weights were tuned with, ``"adapt": {"steps": 10, "batch_size": 4, ...}``
(:func:`generator_adaptation`: what ``colorize`` does by default with them).

:func:`save_generator` writes the pair (what :meth:`colorlab.train.Trainer.export_generator` calls) and
:func:`load_generator` builds the model back from it (what :func:`colorlab.colorize`, video and evaluation use;
cached per file); :func:`generator_config` reads the config alone, so commands check their input against it before
the model is built. :data:`DEMO_WEIGHTS` are the weights shipped in ``data/weights/``, the default everywhere.
"""

from __future__ import annotations

import json
import os
import pathlib

from colorlab.bundle import DATA_DIR
from colorlab.errors import ColorlabError, ConfigError
from colorlab.files import write_atomic, write_json
from colorlab.models.config import Gray2ColorConfig, get_config
from colorlab.models.gray2colornet import Gray2ColorNet, build_gray2colornet

__all__ = ["DEMO_WEIGHTS", "WEIGHTS_SUFFIX", "config_path_for", "read_config", "save_generator", "load_generator",
           "generator_config", "generator_adaptation", "ADAPTATION_KEYS", "clear_generator_cache"]

#: The shipped demo weights (any config); their config sits beside them in ``demo.json``.
DEMO_WEIGHTS = DATA_DIR / "weights" / "demo.weights.h5"
#: The end of every weights file name (Keras refuses others).
WEIGHTS_SUFFIX = ".weights.h5"

#: What an ``"adapt"`` entry may hold: the steps, and the options of :class:`colorlab.inference.Colorizer`'s
#: ``adapt_options``.
ADAPTATION_KEYS = ("steps", "batch_size", "learning_rate", "parts", "min_crop", "min_match")

_CACHE: dict = {}


def config_path_for(weights: str | os.PathLike) -> pathlib.Path:
    """The config file beside a weights file: ``x.weights.h5`` -> ``x.json``."""
    path = pathlib.Path(weights)
    name = path.name
    stem = name[:-len(WEIGHTS_SUFFIX)] if name.endswith(WEIGHTS_SUFFIX) else path.stem
    return path.with_name(stem + ".json")


def read_config(weights: str | os.PathLike) -> Gray2ColorConfig:
    """The config saved beside a weights file (:func:`config_path_for`).

    Raises:
        ConfigError: the config file is missing, unreadable, does not hold ``{"config": {...}}``, or holds an
            invalid config (out of bounds, unknown field, ...); the message names the file.
    """
    json_path = config_path_for(weights)
    if not json_path.is_file():
        raise ConfigError(f"cannot load weights {os.fspath(weights)!r}: its config file "
                          f"{os.fspath(json_path)!r} is missing (the trainer writes it beside the weights); "
                          "pass config= (a Gray2ColorConfig or a config name) to say which model they belong to")
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"cannot read config {os.fspath(json_path)!r}: {' '.join(str(error).split())}") from None
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise ConfigError(f"config file {os.fspath(json_path)!r} must hold {{\"config\": {{...}}}} "
                          "(Gray2ColorConfig.to_dict())")
    try:
        return Gray2ColorConfig.from_dict(data["config"])
    except ConfigError as error:
        raise ConfigError(f"config file {os.fspath(json_path)!r}: {error}") from None


def generator_adaptation(weights: str | os.PathLike | Gray2ColorNet | None = None) -> dict:
    """The reference adaptation recommended for a weights file: the ``"adapt"`` entry of its ``.json``.

    A recommendation is measured for particular weights (``scripts/study_adapt.py`` on a dev split), so it lives
    beside them; the demo weights carry one. Values are checked where they are used
    (:class:`colorlab.inference.Colorizer`).

    Args:
        weights: a ``.weights.h5`` path, ``None`` for the demo weights, or a built model (which carries none).

    Returns:
        ``{"steps": N, **options}`` (keys from :data:`ADAPTATION_KEYS`), or ``{}``: none recorded (a built
        model, a file without its ``.json`` or whose ``.json`` has no ``"adapt"``).

    Raises:
        ConfigError: an ``"adapt"`` entry that is not a dict of known keys with an integer ``"steps"``, or a
            ``.json`` that cannot be read.
    """
    if not (weights is None or isinstance(weights, (str, os.PathLike))):
        return {}   # a built model (or a bad argument, which load_generator reports)
    json_path = config_path_for(DEMO_WEIGHTS if weights is None else weights)
    if not json_path.is_file():
        return {}
    try:
        entry = json.loads(json_path.read_text(encoding="utf-8")).get("adapt", {})
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as error:
        raise ConfigError(f"cannot read config {os.fspath(json_path)!r}: {' '.join(str(error).split())}") from None
    steps = entry.get("steps") if isinstance(entry, dict) else None
    if not isinstance(entry, dict) or set(entry) - set(ADAPTATION_KEYS) or (
            entry and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 0)):
        raise ConfigError(f"config file {os.fspath(json_path)!r}: \"adapt\" must be a dict with an integer "
                          f"\"steps\" >= 0 and keys among {', '.join(ADAPTATION_KEYS)}; got {entry!r}")
    return dict(entry)


def save_generator(model: Gray2ColorNet, path: str | os.PathLike) -> tuple[pathlib.Path, pathlib.Path]:
    """Writes a generator's weights to ``path`` and its config beside them, each atomically (:mod:`colorlab.files`).

    Args:
        model: a built :class:`~colorlab.models.Gray2ColorNet`.
        path: ends with ``.weights.h5`` (e.g. ``runs/course/generator.weights.h5``); its folder is created if
            missing. The config goes to :func:`config_path_for` of it (``runs/course/generator.json``).

    Returns:
        ``(weights_path, config_path)``.

    Raises:
        ConfigError: ``path`` does not end with ``.weights.h5``.
    """
    path = pathlib.Path(path)
    if not path.name.endswith(WEIGHTS_SUFFIX):
        raise ConfigError(f"save_generator: {path} must end with '{WEIGHTS_SUFFIX}' (Keras' weights format)")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, model.save_weights)   # the temporary's name ends in .weights.h5 too, as Keras wants
    config_path = write_json(config_path_for(path), {"config": model.config.to_dict()})
    return path, config_path


def _as_config(config) -> Gray2ColorConfig | None:
    if config is None or isinstance(config, Gray2ColorConfig):
        return config
    if isinstance(config, str):
        return get_config(config)
    raise ConfigError(f"config must be a Gray2ColorConfig, a config name or None, got {config!r}")


def generator_config(weights: str | os.PathLike | Gray2ColorNet | None = None, config=None) -> Gray2ColorConfig:
    """The config :func:`load_generator` would build with the same arguments, without building anything.

    Cheap (a JSON file at most): commands use it to check their inputs against the model's working sizes before
    the model is loaded. The weights file must exist; its content is not read.

    Raises:
        as :func:`load_generator`, except for weights that do not fit the config (found only when loading).
    """
    if isinstance(weights, Gray2ColorNet):
        if config is not None and _as_config(config) != weights.config:
            raise ConfigError("config= differs from the config of the model passed as weights=; leave config out "
                              "when passing a built model")
        return weights.config
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise ConfigError(f"weights must be a path to a .weights.h5 file, a built Gray2ColorNet or None, "
                          f"got {type(weights).__name__}")
    if weights is None and not DEMO_WEIGHTS.is_file():
        raise ColorlabError(
            "the demo weights are not shipped yet (expected "
            f"{os.fspath(DEMO_WEIGHTS)!r}); pass weights= a .weights.h5 file saved by the trainer (with its "
            ".json config beside it) or a built model, e.g. colorize(target, reference, "
            "weights='runs/course/generator.weights.h5'), or --weights on the command line")
    path = pathlib.Path(DEMO_WEIGHTS if weights is None else weights)
    if not path.is_file():
        raise ColorlabError(f"cannot load weights {os.fspath(path)!r}: no such file")
    return _as_config(config) or read_config(path)


def load_generator(weights: str | os.PathLike | Gray2ColorNet | None = None, config=None) -> Gray2ColorNet:
    """A Gray2ColorNet with its weights loaded; built once per weights file (and config), then cached.

    Args:
        weights: a ``.weights.h5`` file; ``None`` for the shipped demo weights (:data:`DEMO_WEIGHTS`); or a built
            :class:`~colorlab.models.Gray2ColorNet`, returned as it is.
        config: a :class:`~colorlab.models.Gray2ColorConfig` or config name, for a weights file without its
            ``.json``; ``None`` reads the ``.json`` (:func:`read_config`). With a built model it must be ``None``
            or the model's own config.

    Returns:
        The model. The same object is returned again for the same file (until the file changes), so do not
        train it in place.

    Raises:
        ConfigError: a ``weights`` of another type, a bad ``config``, or a missing or invalid config file.
        ColorlabError: demo weights not shipped, a missing weights file, a model that cannot be built (out of
            memory), or weights that do not fit the config.
    """
    config = generator_config(weights, config)
    if isinstance(weights, Gray2ColorNet):
        return weights
    path = pathlib.Path(DEMO_WEIGHTS if weights is None else weights)
    stat = path.stat()
    key = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size, json.dumps(config.to_dict(), sort_keys=True))
    model = _CACHE.get(key)
    if model is None:
        try:   # building and loading inside one error path: a config the machine cannot hold is one line too
            model = build_gray2colornet(config)
            model.load_weights(path)
        except Exception as error:  # h5py / Keras / the backend (MemoryError, ResourceExhaustedError) raise many types
            message = " ".join(str(error).split())[:300] or type(error).__name__
            raise ColorlabError(f"cannot load weights {os.fspath(path)!r} into a {config.name!r} "
                                f"Gray2ColorNet: {message}") from None
        _CACHE[key] = model
    return model


def clear_generator_cache() -> None:
    """Forgets the models :func:`load_generator` built (frees their memory)."""
    _CACHE.clear()
