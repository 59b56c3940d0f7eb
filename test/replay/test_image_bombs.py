"""A compressed image that declares a huge frame is refused by its header, before it is decoded: the frame
is invalid_image and the replay's memory stays where it is without it."""
import json
import os
import struct
import sys
import zlib

import numpy as np
import pytest

from paths import ROOT
from peak_memory import run_measured
from rs_vla_guard.frames import InvalidImage, compressed_size, frame_from_compressed
from rs_vla_guard.replay.bags import COMPRESSED_IMAGE, BagWriter
from rs_vla_guard.replay.timeline import NS
from rs_vla_guard.tasks import blocks

LEFT = blocks.render(blocks.Scene([blocks.Block("red", 0.15, 0.25)]))
START = 1_700_000_000 * NS


def png_declaring(width, height):
    """A valid PNG of a black width x height RGB image, made row by row (the test never holds the pixels)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    compressor, parts, row = zlib.compressobj(9), [], b"\x00" + b"\x00" * (3 * width)
    for _ in range(height):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def write_bag(path, bomb):
    with BagWriter(str(path)) as bag:
        bag.string("/instruction", START, "go to the red block")
        for index in range(4):
            now = START + 1 + index * NS // 10
            if bomb and index == 2:
                data = np.frombuffer(png_declaring(16000, 16000), np.uint8)
                bag.write("/camera/image/compressed", COMPRESSED_IMAGE, now, bag.types[COMPRESSED_IMAGE](
                    header=bag.header(now, "camera"), format="png", data=data))
            else:
                bag.compressed_image("/camera/image/compressed", now, LEFT, "png")
    return str(path)


def test_headers_say_the_size_before_any_decoding():
    bomb = png_declaring(16000, 16000)
    assert len(bomb) < 1_000_000 and compressed_size(bomb) == (16000, 16000)
    import cv2

    ok, jpeg = cv2.imencode(".jpg", LEFT)
    assert ok and compressed_size(jpeg.tobytes()) == (LEFT.shape[1], LEFT.shape[0])
    with pytest.raises(InvalidImage, match="larger than max_image_pixels"):
        frame_from_compressed(np.frombuffer(bomb, np.uint8), "png")
    with pytest.raises(InvalidImage, match="neither PNG nor JPEG"):
        frame_from_compressed(np.zeros(64, np.uint8), "png")
    small = frame_from_compressed(np.frombuffer(png_declaring(40, 30), np.uint8), "png")
    assert small.shape == (30, 40, 3)


@pytest.mark.model
def test_a_png_declaring_16000x16000_is_invalid_image_and_costs_no_memory(tmp_path):
    runs = {}
    for bomb in (False, True):
        bag = write_bag(tmp_path / f"bag_{bomb}", bomb)
        report = tmp_path / f"report_{bomb}"
        run = run_measured([sys.executable, "-m", "rs_vla_guard", "replay", bag, "--image-topic",
                            "/camera/image/compressed", "--instruction-topic", "/instruction", "--report", str(report),
                            "--json"], tmp_path, timeout_s=600, cwd=ROOT,
                           env={**os.environ, "RS_VLA_GUARD_NO_PROGRESS": "1"})
        assert run.code == 0, run.stderr[-2000:]
        runs[bomb] = (run.peak_kb / 1024, json.load(open(report / "report.json")))
    reasons = [d["reason"] for d in runs[True][1]["decisions"]]
    assert reasons[2] == "invalid_image" and reasons.count("invalid_image") == 1, reasons
    assert runs[True][0] - runs[False][0] < 200, runs  # MB; decoding it would take 768 MB
