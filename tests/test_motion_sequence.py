import pickle

import numpy as np
import pytest

from addon.common.motion_sequence import MotionSequence, MotionSequenceError, load_motion_sequence


def make(t=5, **over):
    rng = np.random.default_rng(0)
    fields = dict(frames=np.arange(t) + 1.5, global_orient=rng.normal(size=(t, 3)),
                  hand_pose=rng.normal(size=(t, 45)), betas=rng.normal(size=(t, 10)),
                  transl=rng.normal(size=(t, 3)), handedness="left", fps=29.97, model="test")
    fields.update(over)
    return fields


def test_save_then_load_gives_the_same_sequence(tmp_path):
    seq = MotionSequence(**make(confidence=np.linspace(0, 1, 5), vertex_colors=np.full((778, 3), 0.5),
                                camera_matrix=np.eye(3), image_size=np.array([640, 480])))
    back = load_motion_sequence(seq.save(tmp_path / "s.npz"))
    for key in ("frames", "global_orient", "hand_pose", "betas", "transl", "confidence", "vertex_colors"):
        np.testing.assert_array_equal(getattr(back, key), getattr(seq, key))
    assert (back.handedness, back.fps, back.model) == ("left", 29.97, "test")
    assert back.image_size.tolist() == [640, 480]
    assert back.full_pose.shape == (5, 48)


def _write(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    base = MotionSequence(**make()).to_dict()
    base.update(arrays)
    for k in [k for k, v in arrays.items() if v is None]:
        del base[k]
    np.savez(path, **base)
    return path


@pytest.mark.parametrize("change, message", [
    (dict(hand_pose=None), r"missing key\(s\) hand_pose"),
    (dict(betas=np.zeros((5, 9))), r"betas must have shape \(5, 10\), got \(5, 9\)"),
    (dict(transl=np.zeros((4, 3))), r"transl must have shape \(5, 3\)"),
    (dict(global_orient=np.array([[0, 0, np.nan]] + [[0, 0, 0]] * 4)), r"global_orient contains NaN .*\(0, 2\)"),
    (dict(frames=np.array([1.0, 2.0, 2.0, 3.0, 4.0])), r"strictly increasing; sample 2 \(frame 2\)"),
    (dict(handedness=np.array("both")), "handedness must be 'right' or 'left'"),
    (dict(fps=np.array(0.0)), "fps must be a positive number"),
    (dict(format=np.array("something.else")), "format is 'something.else'"),
    (dict(version=np.array(99)), "format version 99 is newer"),
    (dict(hand_pose=np.full((5, 45), "x")), "hand_pose must be numeric"),
    (dict(confidence=np.full(5, 2.0)), r"confidence values must lie in \[0, 1\]"),
])
def test_each_format_error_is_named(tmp_path, change, message):
    with pytest.raises(MotionSequenceError, match=message):
        load_motion_sequence(_write(tmp_path, **change))


def test_pickled_arrays_are_refused(tmp_path):
    path = tmp_path / "p.npz"
    d = MotionSequence(**make()).to_dict()
    d["model"] = np.array([{"evil": 1}], dtype=object)
    np.savez(path, **d)
    with pytest.raises(MotionSequenceError, match="pickled objects"):
        load_motion_sequence(path)


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(MotionSequenceError, match="no such file"):
        load_motion_sequence(tmp_path / "nope.npz")
    raw_pickle = tmp_path / "pickle.npz"
    raw_pickle.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(MotionSequenceError, match=r"not a readable .npz file \(a pickle\)"):
        load_motion_sequence(raw_pickle)
    good = MotionSequence(**make()).save(tmp_path / "good.npz").read_bytes()
    for name, data in {"junk.npz": b"\x00garbage" * 10, "cut.npz": good[: len(good) // 2]}.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(MotionSequenceError, match="not a readable .npz|unreadable array"):
            load_motion_sequence(tmp_path / name)


def test_in_memory_sequences_are_validated_too():
    with pytest.raises(MotionSequenceError, match=r"hand_pose must have shape \(5, 45\)"):
        MotionSequence(**make(hand_pose=np.zeros((5, 48))))


def test_a_small_file_claiming_a_huge_array_is_refused_before_anything_is_allocated(tmp_path):
    """A 4 KB file whose hand_pose header claims 2^31 x 45 floats (360 GiB)."""
    import io
    import zipfile

    good = tmp_path / "good.npz"
    MotionSequence(frames=np.arange(3.0) + 1, global_orient=np.zeros((3, 3)), hand_pose=np.zeros((3, 45)),
                   betas=np.zeros((3, 10)), transl=np.zeros((3, 3))).save(good)
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "hand_pose.npy":
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                              "shape": (2 ** 31, 45)})
                data = header.getvalue() + bytes(4000)
            out.writestr(info.filename, data)
    with pytest.raises(MotionSequenceError, match=r"hand_pose claims shape \(2147483648, 45\), more than its"):
        load_motion_sequence(bomb)
