"""colorlab.course.ch02_data: the sample photos as a Places365-layout folder (chapters 02 and 08 train on it)."""

import pytest
from PIL import Image

from colorlab import data, io
from colorlab.course import ch02_data
from colorlab.errors import DatasetError


def test_the_folder_reads_back_as_places365_with_coarse_classes_at_the_asked_size(tmp_path):
    photos = [path for path in io.sample_paths() if path.stem in ("cat_1", "dog_2", "lake_1", "motorcycle_left")]
    assert len(photos) == 4
    names = ch02_data.build_mini_places365(tmp_path / "mini", side=48, sample_paths=photos)
    folder = data.Places365Folder(tmp_path / "mini")
    assert folder.categories == ["animal", "landscape", "vehicle"]
    items = folder.split("train")
    assert sorted(names) == sorted(path.stem for path in photos) and len(items) == 4
    labels = {name: label for name, (_, label) in zip(names, items)}
    assert labels["cat_1"] == labels["dog_2"] == 0 and labels["lake_1"] == 1 and labels["motorcycle_left"] == 2
    for path, _ in items:
        assert Image.open(path).size == (48, 48)


def test_every_bundled_photo_has_a_class():
    stems = {path.stem for path in io.sample_paths()}
    assert len(stems) == 30
    for stem in stems:
        subject = stem.rsplit("_", 1)[0] if stem.rsplit("_", 1)[-1] in ("1", "2", "left", "right") else stem
        assert subject in ch02_data.CLASS_OF, stem


def test_no_photos_or_an_unknown_subject_is_a_dataset_error_naming_it(tmp_path):
    with pytest.raises(DatasetError, match="no sample photos"):
        ch02_data.build_mini_places365(tmp_path / "a", sample_paths=[])
    stray = tmp_path / "zebra_1.jpg"
    io.save_image(Image.new("RGB", (8, 8)), stray)
    with pytest.raises(DatasetError, match="zebra_1.jpg: no class for the subject 'zebra'"):
        ch02_data.build_mini_places365(tmp_path / "b", sample_paths=[stray])
