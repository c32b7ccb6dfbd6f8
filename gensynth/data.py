"""Proxy-task datasets behind one interface: digits (the default), image folder, .npz, CIFAR."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gensynth.constraints import Proxy
from gensynth.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}


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

    def describe(self) -> str:
        return (f"{self.name}: {len(self.train_y)} train / {len(self.val_y)} validation images, "
                f"{self.classes} classes, {self.channels}x{self.resolution}x{self.resolution}")


def load_dataset(proxy: Proxy, channels: int = 3) -> ProxyData:
    """Read the proxy dataset named in the constraints file, split and normalise it.

    Example:
        >>> from gensynth.constraints import Proxy
        >>> load_dataset(Proxy(resolution=16)).classes
        10
    """
    readers: dict[str, Callable[[Path, int], tuple[np.ndarray, np.ndarray]]] = {
        "digits": lambda p, r: _digits(), "folder": _folder, "npz": lambda p, r: _npz(p),
        "cifar10": lambda p, r: _cifar(p), "cifar100": lambda p, r: _cifar(p)}
    path = Path(proxy.path) if proxy.path else Path("<sklearn digits>")
    images, labels = readers[proxy.dataset](path, proxy.resolution)
    images, labels = _check(images, labels, path)
    x = _to_channels(torch.from_numpy(images).float(), channels, path)
    x = F.interpolate(x, size=(proxy.resolution, proxy.resolution), mode="bilinear",
                      align_corners=False, antialias=True)
    classes, y = np.unique(labels, return_inverse=True)
    return _split(f"{proxy.dataset} ({path})" if proxy.path else "digits (scikit-learn, 1797 "
                  "real 8x8 images)", x, torch.from_numpy(y.astype(np.int64)), len(classes), proxy)


def _split(name: str, x: torch.Tensor, y: torch.Tensor, classes: int, proxy: Proxy) -> ProxyData:
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(proxy.seed))
    if proxy.max_images:
        order = order[: proxy.max_images]
    n_val = max(1, round(len(order) * proxy.val_fraction))
    val, train = order[:n_val], order[n_val:]
    if len(train) == 0:
        raise DataError(f"{name}: too few images ({len(order)}) to split off a validation set")
    mean = x[train].mean(dim=(0, 2, 3))
    std = x[train].std(dim=(0, 2, 3)).clamp_min(1e-6)
    x = (x - mean[:, None, None]) / std[:, None, None]
    return ProxyData(name, x[train].contiguous(), y[train], x[val].contiguous(), y[val], classes,
                     tuple(mean.tolist()), tuple(std.tolist()))


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
                with Image.open(f) as im:
                    rgb = im.convert("RGB").resize((resolution, resolution))
                    images.append(np.asarray(rgb, np.float32))
            except (UnidentifiedImageError, OSError) as exc:
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
                raise DataError(f"{path}: needs arrays 'images' and 'labels' (or 'x' and 'y'), "
                                f"found: {', '.join(sorted(keys)) or 'none'}")
            images, labels = f[x_key], f[y_key]
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read .npz file ({exc})") from None
    return _nchw(images, path), labels


def _cifar(path: Path) -> tuple[np.ndarray, np.ndarray]:
    files = sorted(path.glob("data_batch_*")) or [path / "train"]
    if not path.is_dir() or not all(f.is_file() for f in files):
        raise DataError(f"{path}: not a CIFAR python folder (expected data_batch_1..5 for "
                        "CIFAR-10 or 'train' for CIFAR-100)")
    images, labels = [], []
    for f in files:
        try:
            with open(f, "rb") as handle:
                batch = pickle.load(handle, encoding="bytes")  # the CIFAR format is a pickle
            images.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(batch.get(b"labels", batch.get(b"fine_labels", [])))
        except (OSError, pickle.UnpicklingError, KeyError, ValueError, EOFError) as exc:
            raise DataError(f"{f}: not a CIFAR batch ({type(exc).__name__}: {exc})") from None
    return np.concatenate(images).astype(np.float32) / 255.0, np.array(labels)


def _nchw(images: np.ndarray, path: Path) -> np.ndarray:
    images = np.asarray(images, np.float32)
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[-1] in (1, 3, 4) and images.shape[1] not in (1, 3, 4):
        images = images.transpose(0, 3, 1, 2)
    if images.ndim != 4:
        raise DataError(f"{path}: images must be (N, H, W), (N, H, W, C) or (N, C, H, W), "
                        f"got shape {images.shape}")
    return images / 255.0 if images.max(initial=0) > 1.5 else images


def _check(images: np.ndarray, labels: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).reshape(-1)
    if len(images) != len(labels):
        raise DataError(f"{path}: {len(images)} images but {len(labels)} labels")
    if len(np.unique(labels)) < 2:
        raise DataError(f"{path}: needs at least 2 classes, found {len(np.unique(labels))}")
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
