"""Notebook hygiene that nbval cannot see: import order, nbval cell tags, kernelspecs."""

import glob
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_notebook_imports_colorlab_before_keras_or_tensorflow():
    notebooks = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
    assert len(notebooks) >= 11
    for path in notebooks:
        with open(path, encoding="utf-8") as handle:
            cells = json.load(handle)["cells"]
        source = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        first = re.search(r"^\s*(import|from) (colorlab|keras|tensorflow)\b", source, re.MULTILINE)
        name = os.path.basename(path)
        assert first and first.group(2) == "colorlab", f"{name} imports {first and first.group(2)} before colorlab"


def test_nbval_markers_are_cell_tags_and_every_notebook_compares_something():
    for path in sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb"))):
        with open(path, encoding="utf-8") as handle:
            cells = json.load(handle)["cells"]
        name = os.path.basename(path)
        assert not any("NBVAL_" in "".join(cell["source"]) for cell in cells), f"{name}: a visible # NBVAL_ comment"
        tags = [tag for cell in cells for tag in cell.get("metadata", {}).get("tags", [])]
        assert "nbval-check-output" in tags, f"{name} compares no output under nbval"


def test_every_notebook_names_its_kernel_so_jupyterlab_opens_it_without_asking():
    for path in sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb"))):
        with open(path, encoding="utf-8") as handle:
            metadata = json.load(handle)["metadata"]
        kernel = metadata.get("kernelspec", {})
        assert kernel.get("name") == "python3" and kernel.get("language") == "python", os.path.basename(path)


def test_every_figure_is_drawn_at_100_dpi_and_fits_the_rendered_width():
    """At 100 dpi a figure of colorlab.course.figures.MAX_WIDTH inches is ~1,050 px: what JupyterLab and GitHub show
    without shrinking it (a wider one is shrunk, and its text with it)."""
    import base64
    import struct

    for path in sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb"))):
        with open(path, encoding="utf-8") as handle:
            cells = json.load(handle)["cells"]
        name = os.path.basename(path)
        source = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        assert 'plt.rcParams["figure.dpi"] = 100' in source, name
        widths = []
        for index, cell in enumerate(cells):
            for output in cell.get("outputs", []):
                png = output.get("data", {}).get("image/png")
                if png:
                    width = struct.unpack(">I", base64.b64decode(png)[16:20])[0]
                    widths.append(width)
                    assert width <= 1100, f"{name} cell {index}: a figure {width} px wide"
        assert widths, f"{name} stores no figure"
