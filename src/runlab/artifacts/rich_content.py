"""Logging in-memory content (text, dicts, figures, images) as artifact files.

These helpers serve the fluent API's ``log_text``, ``log_dict``, ``log_figure`` and ``log_image``.
Each renders its content to bytes in memory and hands them to
:meth:`~runlab.artifacts.base.ArtifactRepository.log_bytes`, so no temporary file is involved and
the artifact path is checked by the repository like any other.

matplotlib, plotly, numpy, Pillow and PyYAML are imported only when a call needs them; figure and
image kinds are recognised by their methods and attributes, not by importing their libraries.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from runlab.artifacts._optional import require
from runlab.artifacts.base import ArtifactRepository
from runlab.artifacts.path_safety import validate_artifact_path
from runlab.errors import InvalidParameter

__all__ = ["log_dict", "log_figure", "log_image", "log_text"]

_PLOTLY_HTML = frozenset({".html", ".htm"})
_PLOTLY_IMAGES = frozenset({".png", ".jpg", ".jpeg", ".svg", ".pdf", ".webp", ".eps"})


def _suffix(artifact_file: str) -> str:
    return PurePosixPath(validate_artifact_path(artifact_file)).suffix.lower()


def log_text(repo: ArtifactRepository, text: str, artifact_file: str) -> None:
    """Write ``text`` as UTF-8 to ``artifact_file`` (e.g. ``"notes/summary.txt"``)."""
    if not isinstance(text, str):
        raise InvalidParameter(f"log_text expects a str, got {type(text).__name__}.")
    repo.log_bytes(text.encode("utf-8"), artifact_file)


def log_dict(repo: ArtifactRepository, dictionary: Any, artifact_file: str) -> None:
    """Write a JSON- or YAML-serializable object to ``artifact_file``.

    The file's extension chooses the format: ``.yaml`` and ``.yml`` give YAML (keys in their
    given order), anything else gives JSON indented by two spaces.
    """
    suffix = _suffix(artifact_file)
    try:
        if suffix in (".yaml", ".yml"):
            import yaml

            text = yaml.safe_dump(dictionary, default_flow_style=False, sort_keys=False)
        else:
            text = json.dumps(dictionary, indent=2)
    except (TypeError, ValueError) as error:
        raise InvalidParameter(
            f"Cannot serialize the object for {artifact_file!r}: {error}"
        ) from error
    except Exception as error:
        # PyYAML raises its own RepresenterError for objects it cannot dump.
        if type(error).__module__.startswith("yaml"):
            raise InvalidParameter(
                f"Cannot serialize the object for {artifact_file!r}: {error}"
            ) from error
        raise
    repo.log_bytes(text.encode("utf-8"), artifact_file)


def _is_matplotlib_figure(figure: object) -> bool:
    return hasattr(figure, "savefig") and hasattr(figure, "canvas")


def _is_plotly_figure(figure: object) -> bool:
    return hasattr(figure, "to_html") and hasattr(figure, "to_image")


def log_figure(
    repo: ArtifactRepository,
    figure: Any,
    artifact_file: str,
    save_kwargs: Mapping[str, Any] | None = None,
) -> None:
    """Render a matplotlib or plotly figure and write it to ``artifact_file``.

    matplotlib: the extension picks the format (``.png``, ``.svg``, ``.pdf``, ...); ``save_kwargs``
    go to ``Figure.savefig`` (e.g. ``{"dpi": 200}``).

    plotly: ``.html`` writes an interactive page that loads plotly.js from its CDN (pass
    ``save_kwargs={"include_plotlyjs": True}`` for a self-contained, larger file); ``.png``,
    ``.jpg``, ``.svg``, ``.pdf`` and ``.webp`` need the ``kaleido`` package.
    """
    suffix = _suffix(artifact_file)
    options = dict(save_kwargs or {})
    buffer = io.BytesIO()
    if _is_matplotlib_figure(figure):
        # With no extension, matplotlib falls back to its configured default format (PNG).
        options.setdefault("format", suffix[1:] or None)
        try:
            figure.savefig(buffer, **options)
        except ValueError as error:  # unknown format
            raise InvalidParameter(
                f"Cannot save the figure as {artifact_file!r}: {error}"
            ) from error
        data = buffer.getvalue()
    elif _is_plotly_figure(figure):
        if suffix in _PLOTLY_HTML:
            options.setdefault("include_plotlyjs", "cdn")
            options.setdefault("full_html", True)
            data = figure.to_html(**options).encode("utf-8")
        elif suffix in _PLOTLY_IMAGES:
            require("kaleido", "plots", "Saving a plotly figure as an image")
            data = figure.to_image(format=suffix[1:], **options)
        else:
            raise InvalidParameter(
                f"Cannot save a plotly figure as {artifact_file!r}: use .html, or one of "
                f"{', '.join(sorted(_PLOTLY_IMAGES))} (these need kaleido)."
            )
    else:
        raise InvalidParameter(
            f"log_figure expects a matplotlib or plotly figure, got {type(figure).__name__}."
        )
    repo.log_bytes(data, artifact_file)


def _is_pil_image(image: object) -> bool:
    return all(hasattr(image, name) for name in ("save", "mode", "size", "getbands"))


def _array_to_pil(image: Any) -> Any:
    """Convert a numpy array to a Pillow image, with errors that say what shape or range is wrong."""
    np = require("numpy", "plots", "Logging a numpy image")
    pil_image = require("PIL.Image", "plots", "Logging an image")
    array = np.asarray(image)

    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    # Pillow maps a uint8 (H, W) array to grayscale "L", (H, W, 3) to "RGB" and (H, W, 4) to "RGBA".
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise InvalidParameter(
            f"Cannot log an image of shape {array.shape}: expected (height, width) for grayscale "
            "or (height, width, channels) with 1, 3 (RGB) or 4 (RGBA) channels."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidParameter(f"Cannot log an empty image of shape {array.shape}.")

    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype == np.bool_:
        pixels = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise InvalidParameter(
                f"Cannot log an integer image with values in [{low}, {high}]: "
                "integer pixels must lie in [0, 255]."
            )
        pixels = array.astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise InvalidParameter("Cannot log a float image that contains NaN or infinity.")
        low_f, high_f = float(array.min()), float(array.max())
        if low_f < 0.0 or high_f > 1.0:
            raise InvalidParameter(
                f"Cannot log a float image with values in [{low_f:g}, {high_f:g}]: float pixels must "
                "lie in [0, 1] (they are scaled to 0..255). Divide by 255 or convert to uint8."
            )
        pixels = np.rint(array.astype(np.float64) * 255.0).astype(np.uint8)
    else:
        raise InvalidParameter(
            f"Cannot log an image of dtype {array.dtype}: use uint8 (0..255), another integer type "
            "with values in 0..255, bool, or floats in [0, 1]."
        )
    return pil_image.fromarray(np.ascontiguousarray(pixels))


def log_image(repo: ArtifactRepository, image: Any, artifact_file: str) -> None:
    """Encode a numpy array or a Pillow image and write it to ``artifact_file``.

    The extension picks the format (``.png``, ``.jpg``, ``.webp``, ...). Arrays may be
    ``(H, W)`` grayscale or ``(H, W, C)`` with 1, 3 or 4 channels; ``uint8`` values are used as
    they are, floats must lie in [0, 1] and are scaled to 0..255.
    """
    suffix = _suffix(artifact_file)
    pil_image_module = require("PIL.Image", "plots", "Logging an image")
    if _is_pil_image(image):
        pil = image
    elif hasattr(image, "__array__") or hasattr(image, "__array_interface__"):
        pil = _array_to_pil(image)
    else:
        raise InvalidParameter(
            f"log_image expects a numpy array or a PIL image, got {type(image).__name__}."
        )
    image_format = pil_image_module.registered_extensions().get(suffix)
    if image_format is None:
        raise InvalidParameter(
            f"Cannot save an image as {artifact_file!r}: give a file extension such as .png or "
            ".jpg."
        )
    buffer = io.BytesIO()
    try:
        pil.save(buffer, format=image_format)
    except (OSError, ValueError, KeyError) as error:
        # e.g. "cannot write mode RGBA as JPEG"
        raise InvalidParameter(f"Cannot save the image as {artifact_file!r}: {error}") from error
    repo.log_bytes(buffer.getvalue(), artifact_file)
