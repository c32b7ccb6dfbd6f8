"""Proxy-task datasets behind one interface: digits (the default), image folder, .npz, CIFAR,
and the MNIST-family IDX format (Fashion-MNIST: apt-get install dataset-fashion-mnist)."""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gensynth.constraints import Proxy
from gensynth.errors import DataError
from gensynth.spec import LIMITS

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_MAX_BYTES = 2**31  # refuse headers that announce more than 2 GiB
IMAGE_MAX_PIXELS = 4096 * 4096  # per image file: larger ones are refused before decoding
MAX_CLASSES = LIMITS["num_classes"][1]  # as many classes as a spec may have


@dataclass(frozen=True)
class ProxyData:
    """Normalised train / validation tensors (N, C, R, R) and integer labels, all in memory."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def channels(self) -> int:
        return self.train_x.shape[1]

    @property
    def resolution(self) -> int:
        return self.train_x.shape[-1]


def load_dataset(proxy: Proxy, channels: int = 3) -> ProxyData:
    """Read the proxy dataset named in the constraints file, split and normalise it.

    Example:
        >>> from gensynth.constraints import Proxy
        >>> load_dataset(Proxy(resolution=16)).classes
        10
    """
    readers: dict[str, Callable[[Path, int], tuple[np.ndarray, np.ndarray]]] = {
        "digits": lambda p, r: _digits(),
        "folder": _folder,
        "npz": lambda p, r: _npz(p),
        "cifar10": lambda p, r: _cifar(p),
        "cifar100": lambda p, r: _cifar(p),
        "idx": lambda p, r: _idx(p),
    }
    path = Path(proxy.path) if proxy.path else Path("<sklearn digits>")
    images, labels = readers[proxy.dataset](path, proxy.resolution)
    images, labels = _check(images, labels, path)
    test_from = _idx_train_count(path) if proxy.dataset == "idx" else None
    classes, y = np.unique(labels, return_inverse=True)
    name = (
        f"{proxy.dataset} ({path})" if proxy.path else "digits (scikit-learn, 1797 real 8x8 images)"
    )
    train, val = _split(name, len(y), proxy, test_from)
    keep = torch.cat([train, val])  # resize only the images used
    x = _to_channels(torch.from_numpy(images[keep.numpy()]).float(), channels, path)
    x = F.interpolate(
        x,
        size=(proxy.resolution, proxy.resolution),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )
    y = torch.from_numpy(y.astype(np.int64))[keep]
    n = len(train)
    mean = x[:n].mean(dim=(0, 2, 3))
    std = x[:n].std(dim=(0, 2, 3)).clamp_min(1e-6)
    x = (x - mean[:, None, None]) / std[:, None, None]
    return ProxyData(
        name,
        x[:n].contiguous(),
        y[:n],
        x[n:].contiguous(),
        y[n:],
        len(classes),
        tuple(mean.tolist()),
        tuple(std.tolist()),
    )


def _split(
    name: str, count: int, proxy: Proxy, test_from: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of a seeded random train/validation split; with ``test_from`` (IDX data)
    images from that index on are the published test split, which becomes the validation set."""
    gen = torch.Generator().manual_seed(proxy.seed)
    if test_from is None:
        order = torch.randperm(count, generator=gen)
        if proxy.max_images:
            order = order[: proxy.max_images]
        n_val = max(1, round(len(order) * proxy.val_fraction))
        val, train = order[:n_val], order[n_val:]
    else:
        train = torch.randperm(test_from, generator=gen)
        val = test_from + torch.randperm(count - test_from, generator=gen)
        if proxy.max_images:
            n_val = max(1, round(proxy.max_images * proxy.val_fraction))
            train, val = train[: proxy.max_images - n_val], val[:n_val]
    if len(train) == 0:
        raise DataError(f"{name}: too few images ({count}) to split off a validation set")
    return train, val


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()  # bundled with scikit-learn: no download
    return digits.images[:, None].astype(np.float32) / 16.0, digits.target


def _folder(path: Path, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    if not path.is_dir():
        raise DataError(f"{path}: not a folder (expected one sub-folder of images per class)")
    class_dirs = sorted(d for d in path.iterdir() if d.is_dir())
    images, labels = [], []
    for label, d in enumerate(class_dirs):
        for f in sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            try:
                with Image.open(f) as im:  # reads the header only; decoding comes after the check
                    if im.width * im.height > IMAGE_MAX_PIXELS:
                        raise DataError(
                            f"{f}: {im.width}x{im.height} pixels is more than the "
                            f"{IMAGE_MAX_PIXELS} a proxy image may have (a decompression bomb?)"
                        )
                    rgb = im.convert("RGB").resize((resolution, resolution))
                    images.append(np.asarray(rgb, np.float32))
            except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
                raise DataError(f"{f}: cannot read image ({exc})") from None
            labels.append(label)
    if not images:
        raise DataError(f"{path}: no images found (expected <class>/<image>.png|jpg|... )")
    return np.stack(images).transpose(0, 3, 1, 2) / 255.0, np.array(labels)


def _npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            x_key = next((k for k in ("images", "x", "X") if k in keys), None)
            y_key = next((k for k in ("labels", "y", "Y") if k in keys), None)
            if x_key is None or y_key is None:
                raise DataError(
                    f"{path}: needs arrays 'images' and 'labels' (or 'x' and 'y'), "
                    f"found: {', '.join(sorted(keys)) or 'none'}"
                )
            images, labels = f[x_key], f[y_key]
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read .npz file ({exc})") from None
    return _nchw(images, path), labels


def _cifar(path: Path) -> tuple[np.ndarray, np.ndarray]:
    files = sorted(path.glob("data_batch_*")) or [path / "train"]
    if not path.is_dir() or not all(f.is_file() for f in files):
        raise DataError(
            f"{path}: not a CIFAR python folder (expected data_batch_1..5 for "
            "CIFAR-10 or 'train' for CIFAR-100)"
        )
    images, labels = [], []
    for f in files:
        try:
            with open(f, "rb") as handle:  # the CIFAR format is a pickle: read it restricted
                batch = _SafeUnpickler(handle, encoding="bytes").load()
            if not isinstance(batch, dict) or b"data" not in batch:
                raise ValueError(f"expected a dict with b'data', got {type(batch).__name__}")
            images.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(batch.get(b"labels", batch.get(b"fine_labels", [])))
        except (OSError, pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError) as exc:
            raise DataError(f"{f}: not a CIFAR batch ({type(exc).__name__}: {exc})") from None
    return np.concatenate(images).astype(np.float32) / 255.0, np.array(labels)


class _SafeUnpickler(pickle.Unpickler):
    """Admits plain containers and numpy array reconstruction only: a pickle that names any
    other callable (os.system, builtins.eval, ...) is refused before anything runs."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name} (only plain data and "
            "numpy arrays are allowed in a CIFAR batch)"
        )


def _idx(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-family IDX files in a folder: train + t10k images and labels (.gz or not)."""
    if not path.is_dir():
        raise DataError(
            f"{path}: not a folder (expected {', '.join(IDX_FILES['train'])} and "
            f"the t10k files, optionally .gz)"
        )
    parts = {
        split: [_idx_array(_idx_file(path, name)) for name in names]
        for split, names in IDX_FILES.items()
    }
    for split, (images, labels) in parts.items():
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{path}: {split} images {images.shape} and labels {labels.shape} "
                f"do not pair up (expected (N, H, W) and (N,))"
            )
    images = np.concatenate([parts["train"][0], parts["test"][0]])[:, None]
    labels = np.concatenate([parts["train"][1], parts["test"][1]])
    return images.astype(np.float32) / 255.0, labels


def _idx_train_count(path: Path) -> int:
    return _idx_header(_idx_file(path, IDX_FILES["train"][1]))[1][0]


def _idx_file(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{folder}: missing {name} (or {name}.gz)")


def _idx_open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _idx_header(path: Path) -> tuple[int, tuple[int, ...]]:
    """(header bytes, dims) of an unsigned-byte IDX file."""
    try:
        with _idx_open(path) as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[:3] != b"\x00\x00\x08" or not 1 <= magic[3] <= 4:
                raise DataError(f"{path}: not an unsigned-byte IDX file (magic {magic.hex()})")
            raw = f.read(4 * magic[3])
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from None
    if len(raw) < 4 * magic[3]:
        raise DataError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[i : i + 4], "big") for i in range(0, len(raw), 4))
    if int(np.prod(dims, dtype=np.float64)) > IDX_MAX_BYTES:
        raise DataError(f"{path}: IDX header announces {dims}, more than {IDX_MAX_BYTES} bytes")
    return 4 + len(raw), dims


def _idx_array(path: Path) -> np.ndarray:
    offset, dims = _idx_header(path)
    size = int(np.prod(dims))
    try:
        with _idx_open(path) as f:
            f.read(offset)
            data = f.read(size + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from None
    if len(data) != size:
        raise DataError(f"{path}: IDX data holds {len(data)} bytes, its header says {size}")
    return np.frombuffer(data, np.uint8).reshape(dims)


def _nchw(images: np.ndarray, path: Path) -> np.ndarray:
    if not (np.issubdtype(images.dtype, np.number) or images.dtype == bool):
        raise DataError(f"{path}: images must be numbers, got dtype {images.dtype}")
    images = np.asarray(images, np.float32)
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[-1] in (1, 3, 4) and images.shape[1] not in (1, 3, 4):
        images = images.transpose(0, 3, 1, 2)
    if images.ndim != 4:
        raise DataError(
            f"{path}: images must be (N, H, W), (N, H, W, C) or (N, C, H, W), "
            f"got shape {images.shape}"
        )
    return images / 255.0 if images.max(initial=0) > 1.5 else images


def _check(images: np.ndarray, labels: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).reshape(-1)
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all() or (labels != np.round(labels)).any():
            raise DataError(f"{path}: labels must be whole class numbers (found NaN or fractions)")
        labels = labels.astype(np.int64)
    elif labels.dtype.kind not in "iuUSb":  # integers, bools, or class names
        raise DataError(f"{path}: labels must be integers or class names, got dtype {labels.dtype}")
    if len(images) != len(labels):
        raise DataError(f"{path}: {len(images)} images but {len(labels)} labels")
    if len(np.unique(labels)) < 2:
        raise DataError(f"{path}: needs at least 2 classes, found {len(np.unique(labels))}")
    if len(np.unique(labels)) > MAX_CLASSES:
        raise DataError(f"{path}: more than {MAX_CLASSES} classes in the labels")
    if not np.isfinite(images).all():
        raise DataError(f"{path}: images contain NaN or infinite values")
    return images, labels


def _to_channels(x: torch.Tensor, channels: int, path: Path) -> torch.Tensor:
    have = x.shape[1]
    if have == 4:
        x, have = x[:, :3], 3
    if have == channels:
        return x
    if have == 1:
        return x.expand(-1, channels, -1, -1).contiguous()
    if channels == 1:
        return x.mean(dim=1, keepdim=True)
    raise DataError(f"{path}: images have {have} channels, the deployment needs {channels}")
