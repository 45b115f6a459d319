"""VideoWebArena: all 400 real task configs load, official must_include scoring, agent tasks need an agent."""

import json

import pytest

from mmlong.errors import MmlongError
from mmlong.eval import EvalConfig, evaluate
from mmlong.eval.tasks import get_task
from mmlong.eval.tasks.videowebarena import default_data_dir, extract_answer, official_frame_times
from mmlong.eval.testdata import write_videowebarena_videos

DATA = default_data_dir()
pytestmark = pytest.mark.skipif(DATA is None, reason="shared/data/videowebarena not present")


def test_all_400_load_keyed_by_site_and_task_id():
    docs = get_task("videowebarena_qa").docs()  # default data dir: ../shared/data/videowebarena
    assert len(docs) == 400 and len({d.doc_id for d in docs}) == 400
    sites = {d.doc_id.split("/")[0]: 0 for d in docs}
    for d in docs:
        sites[d.doc_id.split("/")[0]] += 1
    assert sites == {"classifieds": 60, "gitlab": 70, "map": 15, "reddit": 87, "shopping": 121, "shopping_admin": 47}
    ids = [d.data["task_id"] for d in docs]
    assert len(set(ids)) < len(ids)  # task ids repeat across sites, doc ids do not
    task = get_task("videowebarena_qa")
    for d in docs:  # odd eval fields (no eval_types, unknown eval type, no "eval") still give references
        _, ref = task.reference(d)
        assert ref["reference_answers"].get("must_include"), d.doc_id


def test_official_frame_sampler_and_answer_extraction():
    assert official_frame_times(90, 30.0, 60) == [0.0, 1.0, 2.0]  # 3 s: one frame per second
    t = official_frame_times(30 * 120, 30.0, 60)  # 120 s > 60: every ceil(3600 / 60) = 60th frame
    assert len(t) == 60 and t[1] == 2.0
    assert extract_answer("I think... ANSWER: Carnegie Mellon") == "Carnegie Mellon"
    assert extract_answer("Emma") == "Emma"


def test_oracle_100_random_chance_and_missing_videos(tmp_path):
    task = get_task("videowebarena_qa")
    docs = task.docs()
    chosen = [d for d in docs if d.doc_id in ("classifieds/0", "shopping/0", "shopping_admin/7", "reddit/9")]
    write_videowebarena_videos(tmp_path / "media", [d.data["video"] for d in chosen])
    only = tuple(d.doc_id for d in chosen) + ("gitlab/0",)  # gitlab/0's video is missing
    cfg = dict(tasks=("videowebarena_qa",), only=only, output_path=str(tmp_path / "out"), log_samples=True,
               task_options={"videowebarena_qa": {"video_dir": str(tmp_path / "media")}})
    r = evaluate(EvalConfig(model="oracle", **cfg), echo=False)
    assert r["sample_errors"]["videowebarena_qa"]["doc_ids"] == ["gitlab/0"]
    samples = [json.loads(x) for x in open(tmp_path / "out" / "oracle" / r["files"]["videowebarena_qa"]["samples"])]
    assert [s["qa_success"] for s in samples if not s["error"]] == [1.0, 1.0, 1.0, 1.0]
    missing = next(s for s in samples if s["doc_id"] == "gitlab/0")
    assert "not found" in missing["error"] and missing["qa_success"] == 0.0
    ok = samples[0]
    assert ok["input"].startswith("You are an autonomous intelligent agent") and "QUESTION:\n" in ok["input"]
    assert ok["input"].endswith("ANSWER:") and "[FRAME-1]" in ok["input"] and ok["input_media"]["frame_times"]
    rnd = evaluate(EvalConfig(model="random", **{**cfg, "output_path": None}), echo=False)
    assert rnd["results"]["videowebarena_qa"]["qa_success,none"] == 0.0


def test_missing_config_folder_names_the_flag(tmp_path):
    with pytest.raises(MmlongError, match="--data-dir videowebarena_qa=DIR"):
        get_task("videowebarena_qa", data_dir=str(tmp_path / "nope")).docs()
    with pytest.raises(MmlongError, match="no VideoWebArena test_"):
        get_task("videowebarena_qa", data_dir=str(tmp_path)).docs()


def test_agent_tasks_load_but_need_an_agent(tmp_path):
    r = evaluate(EvalConfig(model="random", tasks=("videowebarena_agent",)), echo=False)
    assert "loaded 400 tasks but runs only with an agent callback" in r["task_errors"]["videowebarena_agent"]

    def agent(task, clip):  # a perfect agent for string_match, a wrong one for url_match
        ev = task["eval"]
        answers = ev["reference_answers"] or {}
        ans = " and ".join(str(m).split(" |OR| ")[0] for m in answers.get("must_include", []))
        return {"answer": answers.get("exact_match", ans), "url": "http://nowhere"}

    write_videowebarena_videos(tmp_path / "media", ["search_sort_comment", "search_sort_comment_vehicles"])
    r = evaluate(EvalConfig(model="random", tasks=("videowebarena_agent",), limit=3,
                            task_options={"videowebarena_agent": {"video_dir": str(tmp_path / "media")}}),
                 agent=agent, echo=False)
    # classifieds/0 is string_match (scored 1), classifieds/1 and /2 are url_match (wrong url: 0)
    assert r["results"]["videowebarena_agent"]["success,none"] == pytest.approx(1 / 3)
