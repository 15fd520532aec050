"""Shared test set-up: Blender's user/config/cache folders in a temp folder.

The environment variables are set before any test imports ``bpy``, and subprocesses inherit them, so no
test writes into the home folder. Each run gets its own temp root, so two runs at once cannot delete each
other's files.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="hand-mocap-test-"))
for _var, _sub in {
    "BLENDER_USER_RESOURCES": "blender-user",
    "BLENDER_USER_CONFIG": "blender-user/config",
    "BLENDER_USER_SCRIPTS": "blender-user/scripts",
    "BLENDER_USER_EXTENSIONS": "blender-user/extensions",
    "XDG_CONFIG_HOME": "config",
    "XDG_CACHE_HOME": "cache",
    "MESA_SHADER_CACHE_DIR": "mesa",
}.items():
    (_HOME / _sub).mkdir(parents=True, exist_ok=True)
    os.environ[_var] = str(_HOME / _sub)

# Under pytest-xdist, each worker's share of the cores. OpenMP's threads spin while they wait, so two workers
# each running torch on every core slowed a training test from 29 s alone to 252 s. Set before torch is
# imported; the worker and render subprocesses the tests start inherit it.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, _threads)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """A temp root of this run's own. pytest's default root (``pytest-of-<user>``) is shared by every run of
    the user, and each run deletes old ``pytest-N`` folders there, another run's still in use included."""
    if not config.option.basetemp:
        config.option.basetemp = tempfile.mkdtemp(prefix="hand-mocap-pytest-")
        config._hand_mocap_basetemp = config.option.basetemp


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)
    own = getattr(session.config, "_hand_mocap_basetemp", None)
    if own and exitstatus == 0:  # kept after a failure, for a look at what the failing test wrote
        shutil.rmtree(own, ignore_errors=True)


@pytest.fixture(scope="module")
def open_right():
    """The shipped open hand, right (loaded once per test module)."""
    from addon.common.hand_model import OPEN_HAND_FILES, load_hand_model
    return load_hand_model(OPEN_HAND_FILES["right"])


@pytest.fixture(scope="module")
def open_left():
    from addon.common.hand_model import OPEN_HAND_FILES, load_hand_model
    return load_hand_model(OPEN_HAND_FILES["left"])


@pytest.fixture
def blank_blend():
    """A fresh, empty Blender scene for each test that needs one."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.fixture
def addon_registered(blank_blend):
    """The repo's package enabled as Blender enables an add-on (operators, panels, scene settings)."""
    import addon_utils

    assert addon_utils.enable("addon", default_set=True) is not None
    yield blank_blend
    addon_utils.disable("addon", default_set=True)
