"""Images and videos given as file:// URLs, data: strings and http(s) URLs (a local http.server)."""

from __future__ import annotations

import base64
import functools
import http.server
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from mmlong.errors import MmlongError
from mmlong.media_sources import is_url, label, local_path


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A folder with a PNG (a red/blue 24x32 image) and a 2 s video whose frames show their index."""
    from PIL import Image

    from mmlong.data.synth_video import write_test_video

    root = tmp_path_factory.mktemp("media with space")
    pixels = np.zeros((24, 32, 3), np.uint8)
    pixels[:, :16] = (255, 0, 0)
    pixels[:, 16:] = (0, 0, 255)
    Image.fromarray(pixels).save(root / "pic.png")
    write_test_video(root / "clip.mp4", seconds=2, fps=10, size=(64, 64))
    return root


@pytest.fixture(scope="module")
def server(media):
    """``http://127.0.0.1:PORT/`` serving ``media`` (no network beyond this machine)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(media))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _data_url(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_paths_are_returned_unchanged_and_urls_recognised(media):
    assert local_path(media / "pic.png") == media / "pic.png"
    assert local_path("pic.png") == "pic.png"
    assert [is_url(x) for x in ("file:///a", "DATA:x", "https://h/x", "a.mp4", "ftp://h/x", 5)] == \
        [True, True, True, False, False, False]
    assert label("data:video/mp4;base64," + "A" * 100) == "'data:video/mp4;base64,...' (122 characters)"


def test_file_urls_name_the_local_file(media):
    plain = "file://" + str(media / "pic.png")
    escaped = "file://" + str(media / "pic.png").replace(" ", "%20")
    assert local_path(plain) == local_path(escaped) == media / "pic.png"
    assert local_path("file://localhost" + str(media / "pic.png")) == media / "pic.png"


def test_images_from_every_form_load_the_same_pixels(media, server):
    from mmlong.models.vision_inputs import load_images

    path = media / "pic.png"
    forms = [str(path), "file://" + str(path), _data_url(path, "image/png"), f"{server}/pic.png"]
    images = [np.asarray(im) for im in load_images(forms)]
    assert all(im.shape == (24, 32, 3) for im in images)
    assert all((im == images[0]).all() for im in images)
    assert tuple(images[0][0, 0]) == (255, 0, 0) and tuple(images[0][0, -1]) == (0, 0, 255)


def test_videos_from_every_form_open_and_decode_the_same_frames(media, server):
    from mmlong.data.synth_video import read_frame_index
    from mmlong.video import decode_at
    from mmlong.video import open as open_video

    path = media / "clip.mp4"
    forms = [str(path), "file://" + str(path), _data_url(path, "video/mp4"), f"{server}/clip.mp4"]
    for form in forms:
        with open_video(form) as src:
            assert (src.num_frames, src.fps, src.width) == (20, 10.0, 64)
        clip = decode_at(form, [0.0, 0.55, 1.9])
        assert [read_frame_index(f) for f in clip.frames] == [0, 5, 19]
    assert local_path(forms[3]) == local_path(forms[3])  # fetched once per process
    assert local_path(forms[3]).suffix == ".mp4" and local_path(forms[2]).suffix == ".mp4"


def test_plan_and_ask_take_a_video_url(media, server, capsys):
    import json

    from mmlong.cli import main

    url = f"{server}/clip.mp4"
    assert main(["plan", url, "--model", "tiny:qwen2_5_vl", "--json", "--num-frames", "4"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 4
    assert main(["ask", "file://" + str(media / "clip.mp4"), "What?", "--model", "tiny:qwen2_5_vl",
                 "--max-new-tokens", "1", "--num-frames", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"]["video"] > 0


@pytest.mark.parametrize("ref, needle", [
    ("data:image/png;base64,@@not base64@@", "does not hold valid base64"),
    ("data:image/png;base64", "no comma"),
    ("data:image/png;base64,", "holds no bytes"),
])
def test_bad_data_strings_are_one_line_errors(ref, needle):
    with pytest.raises(MmlongError, match=needle) as err:
        local_path(ref, "image")
    assert "\n" not in str(err.value) and str(err.value).startswith("image 'data:image/png;base64")


def test_unreachable_and_missing_urls_are_one_line_errors(server):
    from mmlong.models.vision_inputs import load_images

    url = f"http://127.0.0.1:{_closed_port()}/clip.mp4"
    with pytest.raises(MmlongError, match=r"cannot fetch video .*: .*refused.*; check the URL and the network, or "
                                          r"download the file and pass its path") as err:
        local_path(url)
    assert "\n" not in str(err.value)
    with pytest.raises(MmlongError, match="HTTP 404"):
        load_images(f"{server}/nothing.png")
    with pytest.raises(MmlongError, match="does not exist"):
        load_images("file:///no/such/pic.png")
