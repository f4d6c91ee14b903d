"""Moving MNIST's recipe (paths by hand, pasting by hand, digits split between parts) and
the user's clips (numbered frames, video files, GIFs, annotations, sampling, the cache)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rnnkit.data import video
from rnnkit.files import InputError


class Draws:
    """A stand-in generator whose ``random`` returns the arrays given, in order."""

    def __init__(self, *arrays):
        self.arrays = list(arrays)

    def random(self, shape):
        value = np.asarray(self.arrays.pop(0), dtype=float)
        assert value.shape == (shape if isinstance(shape, tuple) else (shape,))
        return value


def test_bouncing_paths_by_hand():
    # start at (0.5, 0.95) heading right (angle 0): 0.95 -> 1.05, reflected to 0.95 moving left
    paths = video.bouncing_paths(1, 4, Draws([[0.5, 0.95]], [0.0]), step=0.1)
    np.testing.assert_allclose(paths[0], [[0.5, 0.95], [0.5, 0.95], [0.5, 0.85], [0.5, 0.75]])
    # heading up (angle 3/4 of a turn: row velocity -1) from row 0.05
    paths = video.bouncing_paths(1, 3, Draws([[0.05, 0.5]], [0.75]), step=0.1)
    np.testing.assert_allclose(paths[0], [[0.05, 0.5], [0.05, 0.5], [0.15, 0.5]], atol=1e-12)
    many = video.bouncing_paths(200, 40, np.random.default_rng(0))
    assert many.min() >= 0 and many.max() <= 1
    assert np.abs(np.diff(many, axis=1)).max() <= 0.1 + 1e-12  # never faster than the step


def test_render_pastes_by_the_maximum():
    digit = np.zeros((1, 2, 3, 3), dtype=np.float32)
    digit[0, 0] = 0.5
    digit[0, 1, 1, 1] = 1.0
    paths = np.zeros((1, 2, 2, 2))
    paths[0, 1, 1] = [1.0, 1.0]  # second digit, second frame: the bottom-right corner
    clips = video.render(digit, paths, size=5)
    assert clips.shape == (1, 2, 1, 5, 5)
    expected = np.zeros((5, 5), dtype=np.float32)
    expected[:3, :3] = 0.5
    expected[1, 1] = 1.0
    np.testing.assert_array_equal(clips[0, 0, 0], expected)  # both at the top left: the maximum
    expected = np.zeros((5, 5), dtype=np.float32)
    expected[:3, :3] = 0.5
    expected[3, 3] = 1.0  # the second digit's centre at row 2 + 1, column 2 + 1
    np.testing.assert_array_equal(clips[0, 1, 0], expected)


def test_moving_mnist_clips_are_seeded_and_the_digits_split():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 20)
    digits = rng.random((200, 28, 28)).astype(np.float32)
    parts = video.split_digits(labels, 0.1, 0.1, seed=3)
    assert sorted(np.concatenate(list(parts.values()))) == list(range(200))  # each digit in one part
    assert all(set(labels[index]) == set(range(10)) for index in parts.values())
    source = video.MovingMNIST(digits[parts["train"]], labels[parts["train"]], frames=6)
    a, classes = source.sample(4, np.random.default_rng(5))
    b, _ = source.sample(4, np.random.default_rng(5))
    assert a.shape == (4, 6, 1, 64, 64) and classes.shape == (4, 2)
    np.testing.assert_array_equal(a, b)
    assert 0 <= a.min() and a.max() <= 1


def test_fixed_clips_are_drawn_once(tmp_path):
    source = video.MovingMNIST(np.ones((3, 28, 28), dtype=np.float32) * 0.5, np.arange(3), frames=3)
    first = video.fixed_clips(source, 2, seed=1, path=tmp_path / "val.npz")
    again = video.fixed_clips(video.MovingMNIST(np.zeros((3, 28, 28), np.float32), np.arange(3), frames=3), 2,
                              seed=1, path=tmp_path / "val.npz")
    np.testing.assert_array_equal(first, again)  # read back, not drawn from the other source
    np.testing.assert_allclose(np.unique(first), [0.0, 128 / 255])  # kept as 8-bit levels


def test_sample_times_spreads_over_the_clip():
    np.testing.assert_array_equal(video.sample_times(5, None), np.arange(5))
    np.testing.assert_array_equal(video.sample_times(10, 4), [0, 3, 6, 9])


def write_frames(folder, count, size=(12, 16)):
    folder.mkdir()
    for t in range(count):  # frame t is uniformly grey level 20 t; names sort lexically out of order
        Image.fromarray(np.full(size, 20 * t, dtype=np.uint8)).save(folder / f"frame{t + 1}.png")


def test_load_clips_from_frames_videos_and_gifs(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    clips_folder = tmp_path / "clips"
    clips_folder.mkdir()
    write_frames(clips_folder / "walk", 12)
    gif = [Image.fromarray(np.full((10, 10), level, dtype=np.uint8)) for level in (0, 100, 200)]
    gif[0].save(clips_folder / "wave.gif", save_all=True, append_images=gif[1:], duration=100, loop=0)
    iio = pytest.importorskip("imageio.v3")
    pytest.importorskip("av")
    rgb = np.zeros((7, 32, 32, 3), dtype=np.uint8)
    rgb[:, :, :, 0] = 200  # red
    iio.imwrite(clips_folder / "run.mp4", rgb, plugin="pyav", codec="libx264", fps=5)
    (tmp_path / "labels.csv").write_text("clip,label\nwalk,slow\nwave.gif,hand\nrun,fast\n")
    clips = video.load_clips(clips_folder, size=8, channels=1, max_frames=6, annotations=tmp_path / "labels.csv")
    assert clips.names == ["run", "walk", "wave"] and clips.labels == ["fast", "slow", "hand"]
    assert clips.lengths.tolist() == [6, 6, 3]  # 7 and 12 frames sampled to 6; 3 kept
    walk = clips.frames[1]
    assert walk.shape == (6, 1, 8, 8)
    kept = video.sample_times(12, 6)  # frames 1, 3, 5, 7, 9, 12 of the numbered ones
    np.testing.assert_allclose(walk[:, 0, 0, 0], 20 * kept / 255, atol=1 / 255)
    np.testing.assert_allclose(clips.frames[2][:, 0, 4, 4], [0, 100 / 255, 200 / 255], atol=1 / 255)
    red = clips.frames[0][:, 0, 4, 4]  # red (200, 0, 0) in grey is about 0.299 * 200
    np.testing.assert_allclose(red, 0.299 * 200 / 255, atol=0.04)
    colour = video.load_clips(clips_folder, size=(8, 10), channels=3, cache=False)
    assert colour.frames[0].shape == (7, 3, 8, 10) and colour.frames[0][:, 0].mean() > 0.7
    # the cache: read back the same; a changed file makes a new entry
    again = video.load_clips(clips_folder, size=8, channels=1, max_frames=6, annotations=tmp_path / "labels.csv")
    for a, b in zip(clips.frames, again.frames):
        np.testing.assert_array_equal(a, b)
    assert len(list((tmp_path / "cache" / "video").glob("clips-*.npz"))) == 1
    Image.fromarray(np.full((12, 16), 255, dtype=np.uint8)).save(clips_folder / "walk" / "frame1.png")
    changed = video.load_clips(clips_folder, size=8, channels=1, max_frames=6, annotations=tmp_path / "labels.csv")
    assert changed.frames[1][0, 0, 0, 0] == 1.0


def test_load_clips_errors(tmp_path):
    with pytest.raises(InputError, match="expected a folder of clips"):
        video.load_clips(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no clips; expected video files"):
        video.load_clips(tmp_path / "empty")
    (tmp_path / "clips").mkdir()
    write_frames(tmp_path / "clips" / "a", 2)
    (tmp_path / "clips" / "b.mp4").write_bytes(b"not a video at all")
    with pytest.raises(InputError, match=r"b.mp4: not a readable video"):
        video.load_clips(tmp_path / "clips", cache=False)
    (tmp_path / "clips" / "b.mp4").unlink()
    (tmp_path / "labels.csv").write_text("clip,label\nzzz,x\n")
    with pytest.raises(InputError, match=r"no label for 1 clip\(s\), e.g. \['a'\]"):
        video.load_clips(tmp_path / "clips", annotations=tmp_path / "labels.csv", cache=False)
    with pytest.raises(ValueError, match="channels: expected 1 \\(grey\\) or 3 \\(RGB\\), got 2"):
        video.load_clips(tmp_path / "clips", channels=2)


def test_write_gif_round_trip(tmp_path):
    frames = np.stack([np.full((1, 6, 6), v, dtype=np.float32) for v in (0.0, 0.5, 1.0)])
    path = video.write_gif(frames, tmp_path / "out.gif")
    with Image.open(path) as image:
        assert image.n_frames == 3
        image.seek(1)
        assert abs(np.asarray(image.convert("L"))[3, 3] - 128) <= 1


def test_motion_patterns_move_as_named():
    rng = np.random.default_rng(0)
    step, frames = 0.1, 20
    paths = {m: video.motion_paths(m, 50, frames, rng, step) for m in video.MOTIONS}
    for motion, p in paths.items():
        assert p.shape == (50, frames, 2) and p.min() >= 0 and p.max() <= 1, motion
    moves = {m: np.abs(np.diff(p, axis=1)) for m, p in paths.items()}  # (50, frames - 1, 2)
    assert (moves["horizontal"][..., 0] == 0).all() and np.isclose(moves["horizontal"][..., 1], step).mean() > 0.8
    assert (moves["vertical"][..., 1] == 0).all() and np.isclose(moves["vertical"][..., 0], step).mean() > 0.8
    assert np.isclose(moves["diagonal"], step / np.sqrt(2)).all(-1).mean() > 0.8
    assert (moves["static"] == 0).all()
    chords = np.linalg.norm(np.diff(paths["circular"], axis=1), axis=-1)  # a circle: every chord alike
    np.testing.assert_allclose(chords, chords[:, :1].repeat(frames - 1, 1), rtol=1e-9)
    assert (np.abs(np.diff(np.diff(paths["circular"], axis=1), axis=1)).sum(-1) > 0).all()  # and turning
    speed = np.linalg.norm(np.diff(paths["speeding up"], axis=1), axis=-1)
    assert (speed[:, -5:].mean(1) > 3 * speed[:, :5].mean(1)).all()
    rows = np.diff(paths["zigzag"][..., 0], axis=1)  # up or down, turning every 3 frames (away from the edges)
    turning = np.sign(rows[:, :3]).sum(1) * np.sign(rows[:, 3:6]).sum(1)
    assert (turning < 0).mean() > 0.7
    with pytest.raises(ValueError, match="motion: expected one of"):
        video.motion_paths("teleport", 1, 3, rng)
    source = video.MovingMNIST(np.ones((2, 28, 28), dtype=np.float32), np.arange(2), frames=4, num_digits=1)
    clips, _ = source.sample(3, np.random.default_rng(1), motion="static")
    assert (clips == clips[:, :1]).all()  # a static digit: every frame the first


def test_captioned_clips_say_what_moves(tmp_path):
    digits = np.zeros((10, 28, 28), dtype=np.float32)
    for d in range(10):
        digits[d, 10:18, 10:18] = 1
    source = video.MovingMNIST(digits, np.arange(10), frames=5, num_digits=2)
    clips, slots, captions = video.sample_captioned(source, 30, np.random.default_rng(0))
    assert clips.shape == (30, 5, 1, 64, 64) and slots.shape == (30, 2, 2)
    assert video.caption_of([3, 7], ["horizontal", "vertical"]) == \
        "the digit 3 is moving left and right while the digit 7 is moving up and down"
    names = list(video.CAPTION_MOTIONS)
    for n in range(30):
        assert captions[n] == video.caption_of(slots[n, :, 0], [names[m] for m in slots[n, :, 1]])
    assert len({tuple(s.ravel()) for s in slots}) > 20  # digits and motions vary
    assert all(tuple(s[0]) <= tuple(s[1]) for s in slots)  # described in an order the content fixes
    again = video.fixed_captioned_clips(source, 4, 1, tmp_path / "c.npz")
    read = video.fixed_captioned_clips(source, 4, 1, tmp_path / "c.npz")
    assert again[2] == read[2] and isinstance(read[2][0], str)
    np.testing.assert_array_equal(again[1], read[1])


def test_split_clips_takes_whole_clips_once():
    parts = video.split_clips(np.arange(3, 23), 0.1, 0.2, seed=4)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [14, 2, 4]
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(3, 23))
    np.testing.assert_array_equal(parts["test"], video.split_clips(np.arange(3, 23), 0.1, 0.2, seed=4)["test"])
    with pytest.raises(ValueError, match="2 clips leave none for training after 1 for validation and 1 for test"):
        video.split_clips([0, 1], 0.1, 0.1, seed=0)
