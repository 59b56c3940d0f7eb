"""The one node-probe fixture of the ROS tests: rclpy set up in the test module's own ROS domain
(``DOMAIN`` in the module), one probe node for the module, its records cleared after every test."""
import pytest

import ros_harness as h


@pytest.fixture(scope="module")
def probe(request):
    h.use_domain(request.module.DOMAIN)
    import rclpy

    rclpy.init()
    probe = h.Probe()
    yield probe
    probe.destroy()
    rclpy.shutdown()


@pytest.fixture(autouse=True)
def _fresh_records(request):
    """Each test starts from empty records (a test reads only what was said while it ran)."""
    yield
    if "probe" in request.fixturenames:
        request.getfixturevalue("probe").clear()
