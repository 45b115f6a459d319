"""Demo errors name the upload by the user's file name, never by its path on the server; PDF
failures say whether the file is encrypted or damaged (issue 17)."""

import shutil

import pytest

from bad_media import write_pdf
from mmlong.demo.session import SessionManager, Upload
from mmlong.errors import MmlongError

pytest.importorskip("fpdf", reason="needs fpdf2 (dev) to write test PDFs")


@pytest.fixture
def sessions(tmp_path):
    m = SessionManager(tmp_path / "demo-root")
    yield m
    m.close_all()


def _adopt(sessions, src, tmp_path, name):
    tmp = tmp_path / f"upload-{name}"
    shutil.copyfile(src, tmp)
    return sessions.open(name).adopt(tmp, name=name)


def _private(msg: str, up: Upload, sessions) -> bool:
    return str(up.path) in msg or str(up.path.parent) in msg or str(sessions.root) in msg


def test_redact_replaces_the_private_path_with_the_name(tmp_path):
    up = Upload("video", tmp_path / "s-1" / "video-ab.mp4", "talk.mp4", 10, "ab")
    err = up.redact(MmlongError(f"cannot read video {str(up.path)!r}: no video stream found (is it a video file?)"))
    assert str(err) == "cannot read video 'talk.mp4': no video stream found (is it a video file?)"
    other = up.redact(OSError(f"[Errno 28] No space left on device: '{tmp_path / 's-1' / 'frame-1.png'}'"))
    assert str(other) == "OSError: [Errno 28] No space left on device: 'frame-1.png'"


def test_probe_of_an_undecodable_video_names_the_upload(sessions, tmp_path, video):
    cut = tmp_path / "cut.mp4"
    data = open(video, "rb").read()
    cut.write_bytes(data[: len(data) // 2])  # starts with ftyp (accepted), but the index is gone
    up = _adopt(sessions, cut, tmp_path, "talk.mp4")
    from mmlong.demo.planning import probe

    with pytest.raises(MmlongError) as err:
        probe(up)
    msg = str(err.value)
    assert msg.startswith("cannot read video 'talk.mp4': ") and not _private(msg, up, sessions)


def test_plan_and_answer_errors_name_the_upload(sessions, tmp_path, video):
    from mmlong.demo.answering import answer_question
    from mmlong.demo.planning import probe, token_plan
    from mmlong.demo.settings import AskSettings
    from mmlong.demo.store import store_for

    store = store_for("tiny:qwen2_5_vl", device="cpu")
    up = _adopt(sessions, video, tmp_path, "holiday.mp4")
    meta = probe(up)
    up.path.unlink()  # the file is gone between the upload and the question
    plan = token_plan(store, up, meta, AskSettings(route="direct"))
    assert plan == "Plan unavailable: cannot read video 'holiday.mp4': file not found (check the path)"
    with pytest.raises(MmlongError) as err:
        answer_question(store, up, "What is shown?", AskSettings(route="direct"))
    assert str(err.value) == "cannot read video 'holiday.mp4': file not found (check the path)"


def test_pdf_uploads_say_encrypted_or_damaged(sessions, tmp_path):
    from mmlong.demo.answering import render_page
    from mmlong.demo.planning import probe

    enc = _adopt(sessions, write_pdf(tmp_path / "e.pdf", "secret", password="pw"), tmp_path, "report.pdf")
    with pytest.raises(MmlongError) as err:
        probe(enc)
    assert str(err.value) == ("'report.pdf' is an encrypted (password-protected) PDF; decrypt it first (e.g. qpdf "
                              "--decrypt --password=PASSWORD in.pdf out.pdf) and pass the decrypted file")
    with pytest.raises(MmlongError, match="^'report.pdf' is an encrypted"):
        render_page(enc, 1)
    good = write_pdf(tmp_path / "g.pdf", "hello").read_bytes()
    (tmp_path / "c.pdf").write_bytes(good[:40] + b"\0garbage" * 20)
    bad = _adopt(sessions, tmp_path / "c.pdf", tmp_path, "scan.pdf")
    with pytest.raises(MmlongError) as err:
        probe(bad)
    assert str(err.value) == ("'scan.pdf' is not a PDF or is damaged (PDFium cannot parse it); pass a valid PDF file "
                              "(re-export or repair it, e.g. qpdf in.pdf out.pdf)")


@pytest.mark.parametrize("make, phrase", [
    (lambda d: write_pdf(d / "e.pdf", "secret", password="pw"), "is an encrypted (password-protected) PDF"),
    (lambda d: (d / "t.pdf").write_text("not a pdf") and d / "t.pdf", "is not a PDF or is damaged"),
    (lambda d: d, "is a directory; pass the path of a PDF file"),
    (lambda d: d / "missing.pdf", "does not exist; pass the path of a PDF file"),
])
def test_open_pdf_tells_encrypted_from_damaged(make, phrase, tmp_path):
    from mmlong.docs import open_pdf

    with pytest.raises(MmlongError) as err:
        open_pdf(str(make(tmp_path)))
    assert phrase in str(err.value) and "unencrypted" not in str(err.value)


def test_an_image_upload_named_like_a_video_is_refused_as_an_image(sessions, tmp_path):
    from PIL import Image

    from mmlong.demo.session import UploadError

    src = tmp_path / "holiday.mp4"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(src, format="PNG")
    with pytest.raises(UploadError) as err:
        sessions.open("k").adopt(src, name="holiday.mp4")
    assert str(err.value) == ("'holiday.mp4' is a PNG image, not a video; this demo answers about videos "
                              "(mp4, mkv, webm, mov, avi) and PDFs")
    assert not src.exists()  # a refused upload is deleted at once
