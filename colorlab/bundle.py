"""Where the bundled data lives: the sample photos, the example clip and the demo weights.

One copy is kept in git, in the repository's top-level ``data/``. A wheel carries the same files as the package
data folder ``colorlab/bundled/`` (``pyproject.toml`` maps ``data/`` there when the wheel is built), so an
installed colorlab colours a photo and runs the tour outside any checkout. :data:`DATA_DIR` is whichever of the
two this copy of colorlab has: ``<site-packages>/colorlab/bundled`` for a wheel, ``<checkout>/data`` for a
checkout or an editable install.
"""

import pathlib

__all__ = ["DATA_DIR", "data_dir", "course_notebooks"]

_PACKAGE = pathlib.Path(__file__).resolve().parent


def data_dir() -> pathlib.Path:
    """The folder holding ``samples/``, ``clips/`` and ``weights/``: the wheel's ``colorlab/bundled`` if it is
    there, else the checkout's ``data/`` (returned even if missing, so a message can name it)."""
    bundled = _PACKAGE / "bundled"
    if (bundled / "weights").is_dir():
        return bundled
    return _PACKAGE.parent / "data"


def course_notebooks() -> pathlib.Path | None:
    """The course's notebooks: a checkout's top-level ``notebooks/`` folder; ``None`` for a wheel (which does not
    carry them)."""
    folder = _PACKAGE.parent / "notebooks"
    if (_PACKAGE / "bundled" / "weights").is_dir() or not folder.is_dir():
        return None
    return folder


#: The bundled data folder (:func:`data_dir`, resolved once at import).
DATA_DIR = data_dir()
