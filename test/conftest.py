import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "user_policies"))  # python:guard_test_policies:...
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering on CPU


@pytest.fixture(scope="session")
def tiny_llava_dir(tmp_path_factory):
    import tiny_vlms

    return tiny_vlms.save_tiny_llava(str(tmp_path_factory.mktemp("tiny_llava")))


@pytest.fixture(scope="session")
def blind_llava_dir(tmp_path_factory):
    import tiny_vlms

    return tiny_vlms.save_tiny_llava(str(tmp_path_factory.mktemp("blind_llava")), blind=True)


@pytest.fixture(scope="session")
def tiny_idefics3_dir(tmp_path_factory):
    import tiny_vlms

    return tiny_vlms.save_tiny_idefics3(str(tmp_path_factory.mktemp("tiny_idefics3")))


@pytest.fixture(scope="session")
def builtin_guard():
    from rs_vla_guard.guard import Guard

    return Guard.from_config()


@pytest.fixture(scope="module")
def world():
    """The MuJoCo arena, one per test module (closed afterwards)."""
    from rs_vla_guard.sim.world import World

    world = World()
    yield world
    world.close()
