"""``replay --ray`` with an address that cannot work says what is wrong in one line, at once."""
import socket
import time

import pytest

from commands import run_main
from test_image_bombs import write_bag


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("address,says", [
    ("not an address", "give 'local', a cluster's host:port"),
    (f"127.0.0.1:{free_port()}", "no Ray cluster answers at 127.0.0.1"),
])
def test_a_bad_ray_address_is_one_line_at_once(tmp_path, address, says):
    bag = write_bag(tmp_path / "bag", False)
    started = time.monotonic()
    result = run_main("replay", bag, "--image-topic", "/camera/image/compressed", "--instruction", "go",
                      "--ray", address, env={"RS_VLA_GUARD_NO_PROGRESS": "1"})
    assert result.returncode == 2 and says in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and time.monotonic() - started < 30
