import os
import pickle
import pickletools

import numpy as np
import pytest

from addon.common.hand_model import OPEN_HAND_FILES, HandModelError, find_hand_model, load_hand_model, read_mano_pickle
from helpers import assert_close, write_official_format


def test_official_format_file_loads_without_chumpy_or_scipy(tmp_path, open_right):
    path = write_official_format(open_right, tmp_path / "MANO_RIGHT.pkl")
    raw = path.read_bytes()
    assert b"chumpy.ch" in raw and b"scipy.sparse" in raw  # really that format
    model = load_hand_model(path)
    assert model.side == "right" and not model.is_open_hand
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "hands_components"):
        assert_close(getattr(model, key), getattr(open_right, key), 0.0, key)
    assert model.f.dtype == np.int64 and model.parents.tolist()[:4] == [-1, 0, 1, 2]


def _opcodes(raw: bytes):
    return [(op.name, arg) for op, arg, _ in pickletools.genops(raw)]


@pytest.mark.parametrize("chumpy_keys", [("shapedirs",), ("shapedirs", "posedirs", "v_template", "weights")])
def test_a_file_with_the_official_structure_loads_equal_to_its_source(tmp_path, open_right, chumpy_keys):
    path = write_official_format(open_right, tmp_path / "MANO_RIGHT.pkl", chumpy_keys=chumpy_keys)
    ops = _opcodes(path.read_bytes())
    # the structure of the real file: Python 2 protocol 2, str as BINSTRING, chumpy state with a set
    assert ops[0] == ("PROTO", 2) and not any(name.endswith("UNICODE") for name, _ in ops)
    for wanted in ("__builtin__ set", "chumpy.ch Ch", "scipy.sparse.csc csc_matrix",
                   "numpy.core.multiarray _reconstruct"):
        assert ("GLOBAL", wanted) in ops, wanted
    assert ("BINSTRING" in {name for name, _ in ops}) and ("NEWOBJ", None) in ops
    model = find_hand_model("right", tmp_path)
    assert model.source == str(path) and not model.is_open_hand
    for key in ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table",
                "hands_components", "hands_mean"):
        assert_close(getattr(model, key)[1:] if key == "kintree_table" else getattr(model, key),
                     getattr(open_right, key)[1:] if key == "kintree_table" else getattr(open_right, key), 0.0, key)
    assert model.parents.tolist() == open_right.parents.tolist()
    assert {"J", "hands_coeffs", "bs_style", "bs_type"} <= set(model.extras)


def test_smplx_on_the_official_structure_gives_the_source_hand(tmp_path, open_right):
    import torch

    from inference.handmodel.mano_layer import ManoLayer, load_mano_layer

    write_official_format(open_right, tmp_path / "MANO_RIGHT.pkl")
    official, source = load_mano_layer("right", str(tmp_path), dtype=torch.float64), ManoLayer(open_right,
                                                                                             dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    pose, betas = torch.randn(4, 48, generator=g, dtype=torch.float64) * 0.5, torch.randn(4, 10, generator=g,
                                                                                          dtype=torch.float64)
    a, b = official(pose[:, :3], pose[:, 3:], betas), source(pose[:, :3], pose[:, 3:], betas)
    assert_close(a.vertices.numpy(), b.vertices.numpy(), 1e-12, "vertices")
    assert_close(a.joints.numpy(), b.joints.numpy(), 1e-12, "joints")


def _global_call(module: str, name: str, *args: str) -> bytes:
    """A Python 2 pickle calling ``module.name(*args)`` and storing the result under v_template."""
    body = b"".join(b"U" + bytes([len(a)]) + a.encode() for a in args)
    return (b"\x80\x02}(U\x0av_template" + f"c{module}\n{name}\n".encode() + b"(" + body + b"tR" + b"u.")


@pytest.mark.parametrize("payload, refused", [
    (_global_call("posix", "system", "echo pwned > /tmp/hand_mocap_pwned"), "posix.system"),
    (_global_call("os", "system", "echo pwned > /tmp/hand_mocap_pwned"), "os.system"),
    (_global_call("__builtin__", "eval", "__import__('os').system('echo pwned > /tmp/hand_mocap_pwned')"),
     "__builtin__.eval"),
    (_global_call("__builtin__", "getattr", "x", "y"), "__builtin__.getattr"),
    (_global_call("__builtin__", "__import__", "os"), "__builtin__.__import__"),
    (_global_call("subprocess", "Popen", "true"), "subprocess.Popen"),
    # a hostile call hidden inside a set, as a chumpy state would hold one
    (b"\x80\x02}(U\x01sc__builtin__\nset\n(cposix\nsystem\n(U\x04truetRtRu.", "posix.system"),
])
def test_python2_pickles_that_call_code_are_refused_before_running(tmp_path, payload, refused):
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(payload)
    if os.path.exists("/tmp/hand_mocap_pwned"):
        os.remove("/tmp/hand_mocap_pwned")
    with pytest.raises(HandModelError, match=f"refusing to load class {refused}"):
        load_hand_model(path)
    assert not os.path.exists("/tmp/hand_mocap_pwned")


def test_a_set_where_an_array_belongs_is_a_named_error(tmp_path, open_right):
    path = write_official_format(open_right, tmp_path / "MANO_RIGHT.pkl", extra={"v_template": {1, 2}})
    with pytest.raises(HandModelError, match="v_template is not a numeric array"):
        load_hand_model(path)


def test_official_left_file_gets_the_shapedirs_sign_fix(tmp_path, open_left):
    path = write_official_format(open_left, tmp_path / "MANO_LEFT.pkl", left_sign_bug=True)
    model = load_hand_model(path)
    assert model.side == "left"
    assert_close(model.shapedirs, open_left.shapedirs, 0.0, "fixed left shapedirs")


def test_find_hand_model_uses_the_official_folder_layouts(tmp_path, open_right):
    write_official_format(open_right, tmp_path / "MANO_RIGHT.pkl")
    assert find_hand_model("right", tmp_path).source.endswith("MANO_RIGHT.pkl")
    (tmp_path / "mano").mkdir()
    os.replace(tmp_path / "MANO_RIGHT.pkl", tmp_path / "mano" / "MANO_RIGHT.pkl")
    assert find_hand_model("right", tmp_path).source.endswith(os.path.join("mano", "MANO_RIGHT.pkl"))
    with pytest.raises(HandModelError, match="no MANO_LEFT.pkl here"):
        find_hand_model("left", tmp_path)
    assert find_hand_model("left").is_open_hand


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/hand_mocap_pwned",))


def test_a_pickle_that_runs_code_is_refused_before_running(tmp_path):
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps({"v_template": Boom()}, protocol=2))
    if os.path.exists("/tmp/hand_mocap_pwned"):
        os.remove("/tmp/hand_mocap_pwned")
    with pytest.raises(HandModelError, match=r"refusing to load class (posix|os)\.system"):
        load_hand_model(path)
    assert not os.path.exists("/tmp/hand_mocap_pwned")


@pytest.mark.parametrize("payload, message", [
    (b"this is not a pickle at all", "not a MANO pickle"),
    (pickle.dumps([1, 2, 3], protocol=2), "expected a dict of arrays, found list"),
    (pickle.dumps({"a": np.random.default_rng(0)}, protocol=2), "refusing to load class numpy.random"),
])
def test_non_mano_files_get_a_named_error(tmp_path, payload, message):
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(payload)
    with pytest.raises(HandModelError, match=message):
        load_hand_model(path)


def _with(model, **changes):
    arrays = {k: getattr(model, k) for k in ("v_template", "f", "shapedirs", "posedirs", "J_regressor",
                                            "weights", "kintree_table", "hands_components", "hands_mean")}
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


@pytest.mark.parametrize("changes, message", [
    (dict(posedirs=None), r"missing key\(s\) posedirs"),
    (dict(shapedirs=np.zeros((778, 3, 9))), r"shapedirs has shape \(778, 3, 9\), expected \(778x3x10\)"),
    (dict(v_template=np.full((778, 3), np.nan)), "v_template contains NaN"),
    (dict(kintree_table=np.zeros((2, 16), dtype=np.int64)), "not MANO's 16-joint tree"),
    (dict(f=np.full((1538, 3), 900)), "face indices out of range"),
])
def test_wrong_arrays_are_named(tmp_path, open_right, changes, message):
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps(_with(open_right, **changes), protocol=2))
    with pytest.raises(HandModelError, match=message):
        load_hand_model(path)


def test_side_must_be_known(tmp_path, open_right):
    path = tmp_path / "hand.pkl"
    path.write_bytes(OPEN_HAND_FILES["right"].read_bytes())
    with pytest.raises(HandModelError, match="cannot tell the hand side"):
        load_hand_model(path)
    assert load_hand_model(path, side="right").side == "right"
    with pytest.raises(HandModelError, match="no such file"):
        load_hand_model(tmp_path / "missing_RIGHT.pkl")


def test_read_mano_pickle_returns_plain_arrays(open_right, tmp_path):
    path = write_official_format(open_right, tmp_path / "MANO_RIGHT.pkl")
    raw = read_mano_pickle(path.read_bytes())
    assert type(raw["shapedirs"]) is np.ndarray and type(raw["J_regressor"]) is np.ndarray


def test_a_forged_dtype_state_cannot_make_numbers_look_like_object_references():
    """numpy's own dtype.__setstate__ trusts the flags in the file; a float64 dtype flagged as holding
    references makes numpy treat the array's numbers as pointers. The reader builds dtypes from the type name."""
    import pickle

    import numpy as np

    from addon.common.hand_model import read_mano_pickle

    class ForgedDtype:
        def __reduce__(self):
            return np.dtype, ("f8", False, True), (3, "<", None, None, None, -1, -1, 63)

    raw = read_mano_pickle(pickle.dumps({"dtype": ForgedDtype(), "x": np.arange(3.0)}, protocol=2))
    assert raw["dtype"] == np.dtype("<f8") and not raw["dtype"].hasobject
    assert np.array_equal(raw["x"], np.arange(3.0))


def test_a_pickle_whose_memo_index_asks_for_gigabytes_is_refused_before_it_runs():
    """The unpickler sizes its memo to the largest index it is given: 2^31 - 1 would be 16 GB of pointers."""
    import pytest

    from addon.common.hand_model import HandModelError, read_mano_pickle

    with pytest.raises(HandModelError, match="a memo index of 2147483647"):
        read_mano_pickle(b"\x80\x02}r\xff\xff\xff\x7f.")  # an empty dict memoised at index 2^31 - 1
