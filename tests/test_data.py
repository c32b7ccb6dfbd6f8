"""Dataset loaders on small files written here; bad datasets give clear errors naming the path."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from gensynth.constraints import Proxy
from gensynth.data import load_dataset
from gensynth.errors import DataError


def images(n=40, classes=4, side=12, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    x = rng.integers(0, 256, (n, side, side, channels), dtype=np.uint8)
    return x, labels


def proxy(dataset, path, **kw):
    return Proxy(dataset=dataset, path=str(path), resolution=16, **kw)


def test_digits_is_the_embedded_default():
    d = load_dataset(Proxy(resolution=24))
    assert d.classes == 10 and len(d.train_y) + len(d.val_y) == 1797
    assert d.train_x.shape[1:] == (3, 24, 24)
    assert abs(d.train_x.mean().item()) < 1e-3  # normalised on the train split


def test_split_is_deterministic_and_seed_dependent():
    a, b = load_dataset(Proxy(seed=1)), load_dataset(Proxy(seed=1))
    assert torch.equal(a.val_y, b.val_y) and torch.equal(a.train_x, b.train_x)
    assert not torch.equal(load_dataset(Proxy(seed=2)).val_y, a.val_y)


def test_grayscale_deployment_gets_one_channel():
    assert load_dataset(Proxy(), channels=1).train_x.shape[1] == 1


def test_folder_loader(tmp_path):
    x, y = images()
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        (tmp_path / f"class_{label}").mkdir(exist_ok=True)
        Image.fromarray(img).save(tmp_path / f"class_{label}" / f"{i}.png")
    d = load_dataset(proxy("folder", tmp_path, val_fraction=0.25))
    assert d.classes == 4 and len(d.train_y) == 30 and d.train_x.shape[1:] == (3, 16, 16)


def test_folder_with_broken_image_names_the_file(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        Image.fromarray(images(1)[0][0]).save(tmp_path / c / "ok.png")
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"broken.png: cannot read image"):
        load_dataset(proxy("folder", tmp_path))


@pytest.mark.parametrize("layout", ["nhwc", "nchw", "nhw"])
def test_npz_loader_layouts(tmp_path, layout):
    x, y = images(channels=3 if layout != "nhw" else 1)
    x = {"nhwc": x, "nchw": x.transpose(0, 3, 1, 2), "nhw": x[..., 0]}[layout]
    np.savez(tmp_path / "d.npz", images=x, labels=y)
    d = load_dataset(proxy("npz", tmp_path / "d.npz"))
    assert d.classes == 4 and d.train_x.shape[1:] == (3, 16, 16)


def test_cifar_pickle_loader(tmp_path):
    x, y = images(n=20, side=32)
    for i in (1, 2):
        batch = {b"data": x.transpose(0, 3, 1, 2).reshape(20, -1), b"labels": list(y)}
        (tmp_path / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    d = load_dataset(proxy("cifar10", tmp_path))
    assert len(d.train_y) + len(d.val_y) == 40 and d.classes == 4


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda p: np.savez(p / "d.npz", images=images()[0], labels=np.zeros(40)),
            "needs at least 2 classes, found 1",
        ),
        (
            lambda p: np.savez(p / "d.npz", images=images()[0], labels=np.arange(39) % 2),
            "40 images but 39 labels",
        ),
        (
            lambda p: np.savez(p / "d.npz", pictures=images()[0]),
            "needs arrays 'images' and 'labels'",
        ),
        (lambda p: (p / "d.npz").write_text("garbage"), "cannot read .npz file"),
        (lambda p: None, "cannot read .npz file"),
    ],
)
def test_bad_npz_datasets(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(DataError) as err:
        load_dataset(proxy("npz", tmp_path / "d.npz"))
    assert str(err.value).startswith(str(tmp_path / "d.npz")) and message in str(err.value)


def test_bad_folder_and_cifar_paths(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        load_dataset(proxy("folder", tmp_path / "absent"))
    with pytest.raises(DataError, match="no images found"):
        load_dataset(proxy("folder", tmp_path))
    with pytest.raises(DataError, match="not a CIFAR python folder"):
        load_dataset(proxy("cifar10", tmp_path))
    (tmp_path / "data_batch_1").write_bytes(b"junk")
    with pytest.raises(DataError, match="data_batch_1: not a CIFAR batch"):
        load_dataset(proxy("cifar10", tmp_path))


def write_idx(path, array, gz):
    import gzip

    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def idx_folder(tmp_path, gz=True, train=40, test=20):
    rng = np.random.default_rng(0)
    for split, n in (("train", train), ("t10k", test)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte", rng.integers(0, 255, (n, 8, 8)), gz)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", np.arange(n) % 3, gz)
    return tmp_path


@pytest.mark.parametrize("gz", [True, False])
def test_idx_loader_uses_the_test_split_for_validation(tmp_path, gz):
    data = load_dataset(Proxy(dataset="idx", path=str(idx_folder(tmp_path, gz)), resolution=8))
    assert (len(data.train_y), len(data.val_y), data.classes) == (40, 20, 3)
    capped = load_dataset(
        Proxy(dataset="idx", path=str(tmp_path), resolution=8, max_images=20, val_fraction=0.25)
    )
    assert (len(capped.train_y), len(capped.val_y)) == (15, 5)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: (p / "t10k-labels-idx1-ubyte.gz").unlink(), "missing t10k-labels-idx1-ubyte"),
        (lambda p: (p / "train-images-idx3-ubyte.gz").write_bytes(b"junk"), "cannot read IDX file"),
        (
            lambda p: write_idx(p / "train-labels-idx1-ubyte", np.zeros((5, 2)), True),
            "do not pair up",
        ),
    ],
)
def test_bad_idx_files_are_one_line_errors(tmp_path, damage, message):
    damage(idx_folder(tmp_path))
    with pytest.raises(DataError, match=message):
        load_dataset(Proxy(dataset="idx", path=str(tmp_path), resolution=8))


def test_idx_header_that_lies_about_its_size_is_refused(tmp_path):
    folder = idx_folder(tmp_path, gz=False)
    f = folder / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-10])  # truncated payload
    with pytest.raises(DataError, match="its header says"):
        load_dataset(Proxy(dataset="idx", path=str(folder), resolution=8))


FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(
    not __import__("os").path.isdir(FASHION),
    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist;"
    " .ci/run installs it)",
)
def test_fashion_mnist_from_debian():
    data = load_dataset(Proxy(dataset="idx", path=FASHION, resolution=16, max_images=1000))
    assert data.classes == 10 and len(data.val_y) == 250 and data.train_x.shape[1:] == (3, 16, 16)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned-by-pickle",))


def test_a_malicious_cifar_pickle_is_refused_before_it_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": [0]}))
    with pytest.raises(DataError, match="refusing to load (posix|os|nt).system"):
        load_dataset(Proxy(dataset="cifar10", path=str(tmp_path)))
    assert not (tmp_path / "pwned-by-pickle").exists()


def test_a_cifar_pickle_holding_a_list_is_a_one_line_error(tmp_path):
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataError, match="not a CIFAR batch"):
        load_dataset(Proxy(dataset="cifar10", path=str(tmp_path)))
