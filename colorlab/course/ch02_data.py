"""Chapter 02's helper: the 30 sample photos written as a small folder in Places365's layout.

Chapter 02 reads this function's source to see how the layout is written; chapter 08 trains on its folder. The
real Places365 (or the offline corpus, ``scripts/build_corpus.py``) has the same layout, so everything downstream,
:class:`colorlab.data.Places365Folder` and :class:`colorlab.data.PairDataset`, reads the one as it reads the other.
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Sequence

from colorlab import data, io
from colorlab.errors import DatasetError

__all__ = ["CLASS_OF", "build_mini_places365"]

#: The coarse class of each sample photo's subject (its file name without ``_1``/``_2``/``_left``/``_right``;
#: ours, the corpus's coarse classes).
CLASS_OF = {"cat": "animal", "dog": "animal", "horse": "animal", "parrot": "animal", "quokka": "animal",
            "eiffel": "building", "taj_mahal": "building", "castle": "building", "fruit": "food", "coffee": "food",
            "indoor": "indoor", "lake": "landscape", "forest_path": "landscape", "astronaut": "people",
            "portrait": "people", "musicians": "people", "flower": "plant", "reef": "underwater",
            "motorcycle": "vehicle"}


def build_mini_places365(root: str | os.PathLike, side: int = 256,
                         sample_paths: Sequence[pathlib.Path] | None = None) -> list[str]:
    """Writes the sample photos into ``root`` in Places365's layout (a train split only) and returns their names in
    the train list's order.

    Each photo is resized to ``side`` × ``side`` (shorter side to ``side``, centre crop, as Places365's small images)
    and filed under its coarse class (:data:`CLASS_OF`)::

        ROOT/categories_places365.txt        /a/animal 0
        ROOT/places365_train_standard.txt    /a/animal/00000001.jpg 0
        ROOT/data_256/a/animal/00000001.jpg

    Args:
        root: the folder to write (created if missing).
        side: pixels per side of the stored photos.
        sample_paths: the photos (default: :func:`colorlab.io.sample_paths`); each name's subject must be in
            :data:`CLASS_OF`.

    Raises:
        DatasetError: no photos, or a photo whose subject has no class.
    """
    root = pathlib.Path(root)
    paths = list(io.sample_paths() if sample_paths is None else sample_paths)
    if not paths:
        raise DatasetError("no sample photos found: they come with colorlab (data/samples in a checkout, "
                        "colorlab/bundled/samples in a wheel); reinstall it")
    by_class: dict[str, list[pathlib.Path]] = {}
    for path in paths:
        subject = re.sub(r"_(\d+|left|right)$", "", path.stem)
        if subject not in CLASS_OF:
            raise DatasetError(f"{path.name}: no class for the subject {subject!r} (known: {', '.join(CLASS_OF)})")
        by_class.setdefault(CLASS_OF[subject], []).append(path)
    categories = sorted(by_class)
    lines, names = [], []
    for label, category in enumerate(categories):
        for number, path in enumerate(by_class[category], start=1):
            relative = f"{category[0]}/{category}/{number:08d}.jpg"
            (root / "data_256" / relative).parent.mkdir(parents=True, exist_ok=True)
            io.save_image(data.resize_and_crop(io.load_image(path), side), root / "data_256" / relative)
            lines.append(f"/{relative} {label}\n")
            names.append(path.stem)
    (root / "categories_places365.txt").write_text("".join(f"/{c[0]}/{c} {i}\n" for i, c in enumerate(categories)))
    (root / "places365_train_standard.txt").write_text("".join(lines))
    return names
