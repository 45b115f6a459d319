"""mmlong data vniah: training videos written in several processes are the ones one process writes."""

from mmlong.data.vniah import write_dataset


def test_parallel_writing_gives_the_same_dataset(tmp_path):
    one = write_dataset(tmp_path / "one", 6, length=(2, 4), seed=5, size=48)
    two = write_dataset(tmp_path / "two", 6, length=(2, 4), seed=5, size=48, workers=2)
    assert one.read_text() == two.read_text()
    videos = sorted(p.name for p in (tmp_path / "one" / "videos").iterdir())
    assert len(videos) == 6 and videos == sorted(p.name for p in (tmp_path / "two" / "videos").iterdir())
    for name in videos:
        assert (tmp_path / "one" / "videos" / name).read_bytes() == (tmp_path / "two" / "videos" / name).read_bytes()
    seen = []
    write_dataset(tmp_path / "two", 6, length=(2, 4), seed=5, size=48, workers=2,
                  progress=lambda done, n: seen.append((done, n)))
    assert seen == [] and two.read_text() == one.read_text()  # every video exists: only the JSONL is written
