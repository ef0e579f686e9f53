"""log_text, log_dict, log_figure and log_image, read back from a local repository."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import pytest

from runlab.artifacts import LocalArtifactRepository, log_dict, log_figure, log_image, log_text
from runlab.errors import InvalidParameter

np = pytest.importorskip("numpy")
PIL_Image = pytest.importorskip("PIL.Image")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def repo(root: Path) -> LocalArtifactRepository:
    return LocalArtifactRepository(str(root))


def _read_png(path: Path) -> object:
    with PIL_Image.open(path) as image:
        image.load()
        return image.copy()


# -- text and dicts ------------------------------------------------------------------------------


def test_log_text(repo: LocalArtifactRepository, root: Path) -> None:
    log_text(repo, "héllo\nwörld ✓", "notes/readme.txt")
    assert (root / "notes" / "readme.txt").read_bytes() == "héllo\nwörld ✓".encode()
    with pytest.raises(InvalidParameter, match="str"):
        log_text(repo, b"bytes", "x.txt")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter):
        log_text(repo, "x", "../x.txt")


DATA = {"b": 1, "a": [1, 2.5, "three"], "nested": {"ok": True, "none": None}, "ü": "ß"}


def test_log_dict_json(repo: LocalArtifactRepository, root: Path) -> None:
    log_dict(repo, DATA, "config.json")
    text = (root / "config.json").read_text(encoding="utf-8")
    assert json.loads(text) == DATA
    assert text.startswith('{\n  "b": 1')  # indented, keys in the given order


def test_log_dict_yaml(repo: LocalArtifactRepository, root: Path) -> None:
    import yaml

    log_dict(repo, DATA, "config.yaml")
    log_dict(repo, DATA, "sub/config.YML")
    for name in ("config.yaml", "sub/config.YML"):
        text = (root / name).read_text(encoding="utf-8")
        assert yaml.safe_load(text) == DATA
        assert text.startswith("b: 1\n")  # block style, keys in the given order


def test_log_dict_other_extension_is_json(repo: LocalArtifactRepository, root: Path) -> None:
    log_dict(repo, DATA, "config.txt")
    log_dict(repo, DATA, "noext")
    assert json.loads((root / "config.txt").read_text(encoding="utf-8")) == DATA
    assert json.loads((root / "noext").read_text(encoding="utf-8")) == DATA


def test_log_dict_unserializable(repo: LocalArtifactRepository, root: Path) -> None:
    with pytest.raises(InvalidParameter, match="serialize"):
        log_dict(repo, {"x": object()}, "a.json")
    with pytest.raises(InvalidParameter, match="serialize"):
        log_dict(repo, {"x": object()}, "a.yaml")
    assert not root.exists()


# -- figures -------------------------------------------------------------------------------------


@pytest.fixture
def mpl_figure() -> object:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    # Figure() directly, not pyplot: no global figure manager, nothing to close.
    figure = Figure(figsize=(2, 1), dpi=50)
    axes = figure.add_subplot()
    axes.plot([0, 1, 2], [0, 1, 4])
    return figure


def test_log_matplotlib_png(repo: LocalArtifactRepository, root: Path, mpl_figure: object) -> None:
    log_figure(repo, mpl_figure, "plots/curve.png")
    assert (root / "plots" / "curve.png").read_bytes().startswith(PNG_SIGNATURE)
    assert _read_png(root / "plots" / "curve.png").size == (100, 50)  # type: ignore[attr-defined]


def test_log_matplotlib_kwargs_and_formats(
    repo: LocalArtifactRepository, root: Path, mpl_figure: object
) -> None:
    log_figure(repo, mpl_figure, "curve_hi.png", save_kwargs={"dpi": 100})
    assert _read_png(root / "curve_hi.png").size == (200, 100)  # type: ignore[attr-defined]
    log_figure(repo, mpl_figure, "curve.svg")
    assert b"<svg" in (root / "curve.svg").read_bytes()
    log_figure(repo, mpl_figure, "curve.pdf")
    assert (root / "curve.pdf").read_bytes().startswith(b"%PDF")
    with pytest.raises(InvalidParameter, match=r"curve\.nope"):
        log_figure(repo, mpl_figure, "curve.nope")


def test_log_plotly_html(repo: LocalArtifactRepository, root: Path) -> None:
    go = pytest.importorskip("plotly.graph_objects")
    figure = go.Figure(data=[go.Scatter(x=[1, 2, 3], y=[4, 5, 6], name="runlab-trace")])
    log_figure(repo, figure, "plots/interactive.html")
    html = (root / "plots" / "interactive.html").read_text(encoding="utf-8")
    assert "<html>" in html.lower()
    assert html.rstrip().endswith("</html>")
    assert "runlab-trace" in html
    assert "cdn.plot.ly" in html  # plotly.js is referenced, not inlined, by default
    assert len(html) < 100_000


def test_log_plotly_image_needs_kaleido(repo: LocalArtifactRepository, root: Path) -> None:
    go = pytest.importorskip("plotly.graph_objects")
    figure = go.Figure(data=[go.Bar(x=["a"], y=[1])])
    if importlib.util.find_spec("kaleido") is None:
        with pytest.raises(ImportError, match="kaleido"):
            log_figure(repo, figure, "bar.png")
        assert not root.exists()
    else:
        log_figure(repo, figure, "bar.png")
        assert (root / "bar.png").read_bytes().startswith(PNG_SIGNATURE)
    with pytest.raises(InvalidParameter, match=r"\.html"):
        log_figure(repo, figure, "bar.txt")


def test_log_figure_rejects_other_objects(repo: LocalArtifactRepository) -> None:
    with pytest.raises(InvalidParameter, match="matplotlib or plotly"):
        log_figure(repo, {"not": "a figure"}, "x.png")


# -- images --------------------------------------------------------------------------------------


def _pixels(path: Path) -> object:
    return np.asarray(_read_png(path))


def test_uint8_rgb_roundtrip(repo: LocalArtifactRepository, root: Path) -> None:
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    log_image(repo, array, "images/rgb.png")
    image = _read_png(root / "images" / "rgb.png")
    assert image.mode == "RGB"  # type: ignore[attr-defined]
    assert np.array_equal(np.asarray(image), array)


def test_uint8_rgba_and_grayscale(repo: LocalArtifactRepository, root: Path) -> None:
    rgba = np.arange(4 * 3 * 4, dtype=np.uint8).reshape(4, 3, 4)
    log_image(repo, rgba, "rgba.png")
    assert _read_png(root / "rgba.png").mode == "RGBA"  # type: ignore[attr-defined]
    assert np.array_equal(_pixels(root / "rgba.png"), rgba)

    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    log_image(repo, gray, "gray.png")
    assert _read_png(root / "gray.png").mode == "L"  # type: ignore[attr-defined]
    assert np.array_equal(_pixels(root / "gray.png"), gray)

    log_image(repo, gray[:, :, None], "gray1.png")  # (H, W, 1)
    assert np.array_equal(_pixels(root / "gray1.png"), gray)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_float_images_are_scaled(repo: LocalArtifactRepository, root: Path, dtype: str) -> None:
    array = np.array([[0.0, 0.5], [1.0, 0.25]], dtype=dtype)
    log_image(repo, array, "f.png")
    assert _pixels(root / "f.png").tolist() == [[0, 128], [255, 64]]  # type: ignore[attr-defined]


@pytest.mark.parametrize("dtype", ["int16", "int64", "uint16"])
def test_integer_images_in_byte_range(
    repo: LocalArtifactRepository, root: Path, dtype: str
) -> None:
    array = np.array([[0, 17], [200, 255]], dtype=dtype)
    log_image(repo, array, "i.png")
    assert _pixels(root / "i.png").tolist() == [[0, 17], [200, 255]]  # type: ignore[attr-defined]


def test_bool_image(repo: LocalArtifactRepository, root: Path) -> None:
    log_image(repo, np.array([[True, False]]), "mask.png")
    assert _pixels(root / "mask.png").tolist() == [[255, 0]]  # type: ignore[attr-defined]


def test_jpeg(repo: LocalArtifactRepository, root: Path) -> None:
    log_image(repo, np.full((8, 8, 3), 200, dtype=np.uint8), "photo.jpg")
    with PIL_Image.open(root / "photo.jpg") as image:
        assert image.format == "JPEG"
        assert image.size == (8, 8)


BAD_IMAGES = [
    (np.zeros((4,), dtype=np.uint8), "shape"),
    (np.zeros((2, 2, 2), dtype=np.uint8), "shape"),
    (np.zeros((2, 2, 5), dtype=np.uint8), "shape"),
    (np.zeros((2, 2, 3, 1), dtype=np.uint8), "shape"),
    (np.zeros((0, 3), dtype=np.uint8), "empty"),
    (np.array([[0.0, 1.5]]), r"\[0, 1\]"),
    (np.array([[-0.1, 0.5]]), r"\[0, 1\]"),
    (np.array([[np.nan, 0.5]]), "NaN"),
    (np.array([[0, 256]], dtype=np.int32), r"\[0, 255\]"),
    (np.array([[-1, 3]], dtype=np.int8), r"\[0, 255\]"),
    (np.array([[1 + 2j]]), "dtype"),
    (np.array([["a", "b"]]), "dtype"),
]


@pytest.mark.parametrize(("array", "message"), BAD_IMAGES)
def test_bad_arrays_are_refused(
    repo: LocalArtifactRepository, root: Path, array: object, message: str
) -> None:
    with pytest.raises(InvalidParameter, match=message):
        log_image(repo, array, "bad.png")
    assert not root.exists()


def test_bad_image_inputs(repo: LocalArtifactRepository, root: Path) -> None:
    with pytest.raises(InvalidParameter, match="numpy array or a PIL image"):
        log_image(repo, "not an image", "x.png")
    with pytest.raises(InvalidParameter, match="extension"):
        log_image(repo, np.zeros((2, 2), dtype=np.uint8), "noext")
    with pytest.raises(InvalidParameter, match="RGBA"):
        log_image(repo, np.zeros((2, 2, 4), dtype=np.uint8), "x.jpg")  # JPEG has no alpha
    assert not root.exists()


def test_pil_image(repo: LocalArtifactRepository, root: Path) -> None:
    image = PIL_Image.new("RGB", (3, 2), color=(10, 20, 30))
    log_image(repo, image, "pil.png")
    assert np.asarray(_read_png(root / "pil.png")).tolist() == [[[10, 20, 30]] * 3] * 2
    log_image(repo, image, "pil.webp")
    with PIL_Image.open(io.BytesIO((root / "pil.webp").read_bytes())) as reread:
        assert reread.format == "WEBP"
