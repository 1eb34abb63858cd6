"""Image inputs: finding image files, resolving image paths inside input files safely, and decoding them
in DataLoader workers so the model never waits on PIL.

Keys of images are the SHA-256 of the file's bytes (``embedkit.cache.keys.file_key``): the same picture
under two names is embedded once. Decoding converts whatever PIL opens to RGB: the first frame of an
animation, CMYK and greyscale converted, transparency composited onto white. Large JPEGs are decoded at
a reduced scale close to the model's input size (PIL's ``draft``), which is what the preprocessing would
resize them to anyway.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from embedkit.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")


def is_image_path(value) -> bool:
    """Whether a field value names an image file by its extension."""
    return isinstance(value, str) and Path(value.strip()).suffix.lower() in IMAGE_SUFFIXES


def find_images(folder: str | os.PathLike) -> list[Path]:
    """Every image file under ``folder``, recursively, in sorted order (hidden files skipped)."""
    root = Path(folder)
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def resolve_image_path(value: str, base_file: str | os.PathLike, line: int, field: str) -> Path:
    """The image a file names: relative to that file's folder, and never outside it (``..`` or an
    absolute path that leaves the folder is an :class:`InputError` naming the path)."""
    base = Path(base_file).resolve().parent
    path = (base / value.strip()).resolve()
    if not path.is_relative_to(base):
        raise InputError(
            f"image path {value!r} leaves the folder of the file ({base}); paths inside an input file "
            "must stay under that file's folder",
            file=str(base_file),
            line=line,
            field=field,
        )
    if not path.is_file():
        raise InputError(
            f"image {value!r} not found (looked for {path})", file=str(base_file), line=line, field=field
        )
    return path


def load_rgb(path: str | os.PathLike, size_hint: int | None = None):
    """Open an image as RGB PIL (see the module docstring). Raises ``ValueError`` saying what is wrong."""
    from PIL import Image, ImageFile, UnidentifiedImageError

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(path) as img:
            if getattr(img, "is_animated", False):
                img.seek(0)
            if size_hint and img.format == "JPEG":
                img.draft("RGB", (size_hint * 2, size_hint * 2))  # decode at >= 2x the model's input size
            img.load()
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                out = Image.new("RGB", rgba.size, (255, 255, 255))
                out.paste(rgba, mask=rgba.getchannel("A"))
                return out
            return img.convert("RGB")
    except UnidentifiedImageError:
        raise ValueError("not an image PIL can read") from None
    except Image.DecompressionBombError as e:
        raise ValueError(f"too large to decode safely ({e})") from None
    except (OSError, SyntaxError) as e:  # truncated or corrupt data
        raise ValueError(f"unreadable or truncated image ({e})") from None


class ImageDataset:
    """A torch-style dataset of image paths: item i is (i, pixels or None, error or None)."""

    def __init__(self, paths: Sequence[str | os.PathLike], transform: Callable, size_hint: int | None = None):
        self.paths = [str(p) for p in paths]
        self.transform = transform
        self.size_hint = size_hint

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            return i, self.transform(load_rgb(self.paths[i], self.size_hint)), None
        except ValueError as e:
            return i, None, str(e)


def _collate(batch):
    import torch

    idx = np.array([b[0] for b in batch], dtype=np.int64)
    ok = [b for b in batch if b[1] is not None]
    pixels = torch.stack([b[1] for b in ok]) if ok else None
    good = np.array([b[0] for b in ok], dtype=np.int64)
    errors = [(b[0], b[2]) for b in batch if b[1] is None]
    return idx, good, pixels, errors


def iter_image_batches(
    paths: Sequence[str | os.PathLike],
    transform: Callable,
    batch_size: int,
    workers: int = 0,
    size_hint: int | None = None,
    pin_memory: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray, object, list[tuple[int, str]]]]:
    """Decode and preprocess images in ``workers`` DataLoader processes, in input order.

    Yields ``(indices, good indices, pixels (len(good), C, H, W) or None, [(index, error)])`` per batch.
    """
    from torch.utils.data import DataLoader

    loader = DataLoader(
        ImageDataset(paths, transform, size_hint),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=pin_memory,
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
    )
    batches = iter(loader)
    try:
        yield from batches
    finally:  # stopped early (an unreadable image): stop the workers now, not whenever GC gets to it
        shutdown = getattr(batches, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
