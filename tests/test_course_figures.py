"""colorlab.course.figures: array helpers checked against hand values, figures checked for axes, titles and labels."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from colorlab.course import figures  # noqa: E402
from colorlab.errors import ConfigError  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_ab_grid_orientation():
    a, b = figures.ab_grid(5, 100.0)
    assert a.shape == b.shape == (5, 5)
    np.testing.assert_allclose(a[0], [-100, -50, 0, 50, 100])       # a grows left to right
    np.testing.assert_allclose(b[:, 0], [100, 50, 0, -50, -100])     # b grows bottom to top
    assert a[2, 2] == 0.0 and b[2, 2] == 0.0


def test_ab_plane_shape_and_gray_centre():
    rgb, inside = figures.ab_plane(50.0, size=21)
    assert rgb.shape == (21, 21, 3) and rgb.dtype == np.float32
    assert inside.shape == (21, 21) and inside.dtype == bool
    centre = rgb[10, 10]
    # a = b = 0 at L = 50 is neutral gray: sRGB ≈ 0.4663 on every channel (scikit-image: lab2rgb([50, 0, 0]))
    np.testing.assert_allclose(centre, [0.4663] * 3, atol=2e-3)
    assert inside[10, 10]
    # the corner a = −110, b = +110 (top left) is a green-yellow no display can show at L = 50
    assert not inside[0, 0]
    assert 0.0 <= rgb.min() and rgb.max() <= 1.0


def test_ab_plane_rejects_bad_lightness():
    with pytest.raises(ConfigError, match="L must lie in"):
        figures.ab_plane(120.0, size=5)
    with pytest.raises(ConfigError, match="size"):
        figures.ab_grid(1)


def test_gamut_area_vanishes_at_black_and_white():
    areas = figures.gamut_area([0.0, 50.0, 100.0], size=41)
    step = 220.0 / 40
    # At L = 0 and L = 100 only a = b = 0 (one pixel) is displayable; mid-gray has thousands of Lab units².
    np.testing.assert_allclose(areas[[0, 2]], step * step, rtol=1e-9)
    assert areas[1] > 3000.0


def test_plot_ab_planes_has_one_labelled_axes_per_lightness():
    fig = figures.plot_ab_planes((20, 80), size=21)
    assert len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == ["ab plane at L = 20", "ab plane at L = 80"]
    assert fig.axes[0].get_xlabel().startswith("a") and fig.axes[0].get_ylabel().startswith("b")


def test_plot_gamut_area_labels():
    ax = figures.plot_gamut_area([0, 50, 100], [0.0, 1.0, 0.0])
    assert ax.get_xlabel() == "L (lightness)" and "area" in ax.get_ylabel() and ax.get_title()


def test_plot_lab_decomposition_has_images_and_colourbars():
    rng = np.random.default_rng(0)
    fig = figures.plot_lab_decomposition(rng.uniform(size=(6, 8, 3)), title="random")
    assert len(fig.axes) == 7  # 4 images + 3 colourbars
    titles = [ax.get_title() for ax in fig.axes[:4]]
    assert titles[0] == "sRGB image" and titles[1].startswith("L") and titles[2].startswith("a")
    assert titles[3].startswith("b")
    with pytest.raises(ConfigError, match=r"\(H, W, 3\)"):
        figures.plot_lab_decomposition(np.zeros((4, 4)))


def test_plot_ab_histogram_axes_in_lab_units():
    hist = np.zeros(441)
    hist[10 * 21 + 10] = 0.75          # a = 0, b = 0
    hist[20 * 21 + 0] = 0.25           # a = +110, b = −110
    ax = figures.plot_ab_histogram(hist, title="toy")
    assert len(ax.figure.axes) == 2    # the histogram and its colourbar
    image = ax.get_images()[0]
    np.testing.assert_allclose(image.get_extent(), [-115.5, 115.5, -115.5, 115.5])
    data = np.asarray(image.get_array())
    assert data[10, 10] == pytest.approx(0.75)  # rows are b (origin lower), columns are a
    assert data[0, 20] == pytest.approx(0.25)
    assert ax.get_title() == "toy" and ax.get_xlabel().startswith("a")
    with pytest.raises(ConfigError, match="441"):
        figures.plot_ab_histogram(np.zeros(440))


def test_show_images_grid():
    images = [np.zeros((4, 4, 3)), np.ones((4, 4)), np.full((4, 4, 3), 0.5)]
    fig = figures.show_images(images, ["x", "y", "z"], ncols=2)
    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes[:3]] == ["x", "y", "z"]
    assert not fig.axes[3].get_visible()
    with pytest.raises(ConfigError, match="titles"):
        figures.show_images(images, ["only one"])


def test_pixel_axes_titles_and_labels_in_pixels():
    _, ax = plt.subplots()
    figures.pixel_axes(ax, "photo")
    assert ax.get_title() == "photo"
    assert ax.get_xlabel() == "column (pixels)" and ax.get_ylabel() == "row (pixels)"
