import os
import pickle

import numpy as np
import pytest

from addon.common.hand_model import (OPEN_HAND_FILES, HandModelError, find_hand_model, load_hand_model,
                                     read_mano_pickle)
from helpers import assert_close, write_official_format


@pytest.fixture(scope="module")
def open_right():
    return load_hand_model(OPEN_HAND_FILES["right"])


@pytest.fixture(scope="module")
def open_left():
    return load_hand_model(OPEN_HAND_FILES["left"])


def test_official_format_file_loads_without_chumpy_or_scipy(tmp_path, open_right):
    path = write_official_format(open_right, tmp_path / "MANO_RIGHT.pkl")
    raw = path.read_bytes()
    assert b"chumpy.ch" in raw and b"scipy.sparse" in raw  # really that format
    model = load_hand_model(path)
    assert model.side == "right" and not model.is_open_hand
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "hands_components"):
        assert_close(getattr(model, key), getattr(open_right, key), 0.0, key)
    assert model.f.dtype == np.int64 and model.parents.tolist()[:4] == [-1, 0, 1, 2]


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
