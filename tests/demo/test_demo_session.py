"""``mmlong.demo.session``: upload checks, private dirs, cleanup; plus the app building offline.

    python -m pytest tests/demo/test_demo_session.py -q
"""

import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mmlong.demo.session import Session, SessionManager, UploadError, check_upload, sniff

ROOT = Path(__file__).resolve().parents[2]
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
PDF_HEAD = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"\x00" * 64


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.fixture
def sessions(tmp_path):
    m = SessionManager(tmp_path / "root")
    yield m
    m.close_all()


def test_sniff_recognises_containers_and_refuses_text():
    assert sniff(PDF_HEAD) == "pdf"
    assert sniff(b"junk\n" + PDF_HEAD) == "pdf"  # a PDF header may follow junk bytes
    assert sniff(MP4_HEAD) == "video"
    assert sniff(b"\x00\x00\x00\x14ftypqt  ") == "video"  # QuickTime .mov
    assert sniff(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81") == "video"  # mkv / webm
    assert sniff(b"RIFF\x24\x00\x00\x00AVI LIST") == "video"
    assert sniff(b"hello, this is a text file\n") is None
    assert sniff(b"") is None


def test_private_dirs_are_owner_only(sessions, tmp_path):
    s = sessions.open("a")
    assert _mode(sessions.root) == 0o700
    assert _mode(sessions.sessions_dir) == 0o700
    assert _mode(sessions.server_dir()) == 0o700
    assert _mode(s.dir) == 0o700
    up = s.adopt(_write(tmp_path / "talk.mp4", MP4_HEAD))
    assert _mode(up.path) == 0o600
    assert up.path.parent == s.dir


def test_default_root_is_a_private_tempdir():
    m = SessionManager()
    try:
        assert _mode(m.root) == 0o700 and m.root.name.startswith("mmlong-demo-")
        assert (m.root / "owner.pid").read_text() == str(os.getpid())  # lets a later server sweep it if killed
    finally:
        import shutil

        shutil.rmtree(m.root, ignore_errors=True)


def test_adopt_moves_renames_and_keeps_display_name(sessions, tmp_path):
    src = _write(tmp_path / "My Talk (final).mp4", MP4_HEAD)
    up = sessions.open("a").adopt(src)
    assert not src.exists()  # moved out of the web server's upload cache
    assert up.kind == "video" and up.name == "My Talk (final).mp4" and up.size == len(MP4_HEAD)
    assert up.path.name == f"video-{up.token}.mp4" and up.path.read_bytes() == MP4_HEAD
    doc = sessions.open("b").adopt(_write(tmp_path / "paper.PDF", PDF_HEAD))
    assert doc.kind == "pdf" and doc.path.suffix == ".pdf"


@pytest.mark.parametrize("name,data,needle", [
    ("notes.mp4", b"these are my notes, not a video\n" * 4, "is not a video: its content is text"),
    ("notes.txt", b"plain text\n", ".txt is not supported"),
    ("clip", MP4_HEAD, "files without an extension is not supported"),
    ("empty.mp4", b"", "is empty"),
    ("paper.mp4", PDF_HEAD, "its content is a PDF"),
    ("scan.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "is not a PDF"),
])
def test_bad_uploads_are_refused_with_one_line_and_deleted(sessions, tmp_path, name, data, needle):
    src = _write(tmp_path / name, data)
    s = sessions.open("a")
    with pytest.raises(UploadError) as err:
        s.adopt(src)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg
    assert "upload" in msg or "rename" in msg  # says what to do instead
    assert not src.exists() and s.upload is None and list(s.dir.iterdir()) == []


def test_size_limit(sessions, tmp_path):
    src = _write(tmp_path / "big.mp4", MP4_HEAD + b"\x00" * 2000)
    with pytest.raises(UploadError, match="over this demo's .* limit.*--max-upload-mb"):
        sessions.open("a").adopt(src, max_bytes=1000)
    ok = _write(tmp_path / "ok.mp4", MP4_HEAD)
    assert check_upload(ok, max_bytes=len(MP4_HEAD)) == "video"


def test_new_upload_replaces_old_and_runs_hooks(sessions, tmp_path):
    s = sessions.open("a")
    first = s.adopt(_write(tmp_path / "a.mp4", MP4_HEAD))
    ran = []
    s.on_cleanup(lambda: ran.append("served copy"))
    s.history.append({"question": "q"})
    second = s.adopt(_write(tmp_path / "b.pdf", PDF_HEAD))
    assert ran == ["served copy"] and not first.path.exists() and second.path.exists() and s.history == []
    s.discard()
    assert not second.path.exists() and s.upload is None and s.dir.exists()


def test_close_deletes_everything_and_is_idempotent(sessions, tmp_path):
    s = sessions.open("key")
    up = s.adopt(_write(tmp_path / "a.mp4", MP4_HEAD))
    served = tmp_path / "served-copy.mp4"
    served.write_bytes(b"x")
    s.on_cleanup(lambda: served.unlink())
    s.on_cleanup(lambda: 1 / 0)  # a failing hook does not stop the cleanup
    assert sessions.get("key") is s and len(sessions) == 1
    assert sessions.close("key") is True
    assert not up.path.exists() and not s.dir.exists() and not served.exists() and s.closed
    assert sessions.close("key") is False and len(sessions) == 0
    s.close()  # idempotent
    with pytest.raises(UploadError, match="session has ended"):
        s.adopt(_write(tmp_path / "c.mp4", MP4_HEAD))


def test_reopening_a_key_closes_the_old_session_and_close_all(sessions, tmp_path):
    old = sessions.open("k")
    old.adopt(_write(tmp_path / "a.mp4", MP4_HEAD))
    new = sessions.open("k")
    assert old.closed and not old.dir.exists() and sessions.get("k") is new
    other = sessions.open("j")
    anon = sessions.open()  # not registered: the caller owns it
    sessions.close_all()
    assert new.closed and other.closed and not anon.closed
    anon.close()
    assert isinstance(anon, Session) and not anon.dir.exists()


def test_import_stays_light():
    code = ("import sys, mmlong.demo, mmlong.demo.session, mmlong.demo.cli, mmlong.cli; mmlong.cli.build_parser(); "
            "bad = [m for m in ('gradio', 'torch', 'transformers') if m in sys.modules]; print(bad); assert not bad")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_cite_labels_parse_back():
    from mmlong.demo.answering import cite_page, cite_seconds

    assert cite_seconds("⏵ 00:01:05") == 65.0
    assert cite_seconds("⏵ 01:00:00") == 3600.0
    assert cite_seconds("page 3") is None
    assert cite_page("page 3 cited") == 3 and cite_page("⏵ 00:01:05") is None


def test_build_app_offline_without_launching(tmp_path):
    pytest.importorskip("gradio", reason="needs mmlong[ui]")
    from mmlong.demo.app import build_app

    def factory(route, **kw):  # never called: building the page loads no model
        raise AssertionError("the pipeline must load lazily, on the first question")

    m = SessionManager(tmp_path / "root")
    app = build_app(factory, model="tiny:qwen2_5_vl", sessions=m, max_upload_mb=7, concurrency=2)
    cfg = app.get_config_file()
    ids = {c["props"].get("elem_id") for c in cfg["components"]}
    assert {"mmlong-upload", "mmlong-status", "mmlong-plan", "mmlong-player", "mmlong-question", "mmlong-ask",
            "mmlong-answer", "mmlong-frames", "mmlong-history"} <= ids
    radios = [c for c in cfg["components"] if c["type"] == "radio"]
    assert [ch[0] for ch in radios[0]["props"]["choices"]] == ["direct", "silvr"]
    assert app._queue.default_concurrency_limit == 2
    assert app.mmlong_max_upload_mb == 7 and app.mmlong_sessions is m
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


def test_session_close_forgets_cached_stage1_text(sessions, tmp_path):
    from mmlong.demo.store import PipelineStore, forget_stage1
    from mmlong.silvr.cache import StageCache, video_hash

    def factory(route, **kw):  # forgetting needs no pipeline
        raise AssertionError("nothing loads")

    store = PipelineStore(factory, "default", cache_dir=str(tmp_path / "private"))
    cache = StageCache(tmp_path / "private").dir  # where SilvrPipeline(cache_dir=...) keeps stage-1 text
    assert store.stage1_dir() == cache
    cache.mkdir(parents=True)
    s = sessions.open("a")
    up = s.adopt(_write(tmp_path / "a.mp4", MP4_HEAD))
    mine = cache / f"{video_hash(str(up.path))[:24]}-ocr-0123456789abcdef.json"
    other = cache / "0123456789abcdef01234567-ocr-0123456789abcdef.json"
    mine.write_text("{}")
    other.write_text("{}")
    forget_stage1(store, s, up)
    sessions.close("a")
    assert not mine.exists() and other.exists()


def test_cli_rejects_bad_arguments_in_one_line(capsys):
    from mmlong.cli import main

    assert main(["demo", "--port", "70000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmlong: error: --port must be 1..65535") and err.count("\n") == 1


def test_cli_serves_on_localhost(tmp_path):
    pytest.importorskip("gradio", reason="needs mmlong[ui]")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "mmlong.cli", "demo", "--model", "tiny:qwen2_5_vl", "--port",
                             str(port), "--max-upload-mb", "5"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline, page = time.time() + 120, None
        while time.time() < deadline and proc.poll() is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert page is not None and "mmlong demo" in page, proc.stdout.read() if proc.poll() is not None else ""
        roots = list(tmp_path.glob("mmlong-demo-*"))
        assert len(roots) == 1 and stat.S_IMODE(os.stat(roots[0]).st_mode) == 0o700
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not roots[0].exists()  # SIGTERM exits cleanly: the private dir is removed


def test_roots_of_killed_servers_are_swept(tmp_path):
    """A server killed with SIGKILL leaves its root; the next server removes it (only dead owners')."""
    import subprocess
    import sys

    from mmlong.demo.session import OWNER_FILE, sweep_orphans

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    roots = {name: tmp_path / f"mmlong-demo-{name}" for name in ("dead", "alive", "unowned")}
    for root in roots.values():
        (root / "sessions" / "s-x").mkdir(parents=True)
        (root / "sessions" / "s-x" / "upload.mp4").write_bytes(b"private")
    (roots["dead"] / OWNER_FILE).write_text(dead.stdout.strip())
    (roots["alive"] / OWNER_FILE).write_text(str(os.getpid()))
    assert sweep_orphans(tmp_path) == [roots["dead"]]
    assert not roots["dead"].exists() and roots["alive"].exists() and roots["unowned"].exists()
