"""--compare: one row per run labelled by the differing settings, metrics with stderr, paired counts."""

import pytest

from mmlong.cli import main
from mmlong.errors import MmlongError
from mmlong.eval import EvalConfig, evaluate
from mmlong.eval.compare import compare, run_labels

NEEDLE = {"mmneedle": {"m": 2, "n": 2, "size": 16, "n_seq": 10}}


def test_labels_name_only_the_differing_settings():
    a = {"model": "m", "pos": "native", "pos_options": {}, "batch_size": 1, "seed": 0}
    b = {"model": "m", "pos": "hope", "pos_options": {"gamma": 1.5}, "batch_size": 4, "seed": 0}
    assert run_labels([a, b]) == ["pos=native, pos_options={}", "pos=hope, pos_options={'gamma': 1.5}"]
    assert run_labels([a, a]) == ["(same settings)", "(same settings)"]  # batch_size never changes scores


def test_compare_oracle_and_random_runs(tmp_path, capsys):
    for model in ("oracle", "random"):
        evaluate(EvalConfig(model=model, tasks=("mmneedle",), task_options=NEEDLE, output_path=str(tmp_path),
                            run_id=model), echo=False)
    table = compare([tmp_path])
    rows = table.splitlines()
    assert rows[0].startswith("|run|mmneedle exist_acc|mmneedle index_acc|mmneedle exact_acc|")
    oracle = next(r for r in rows if r.startswith("|model=oracle|"))
    rnd = next(r for r in rows if r.startswith("|model=random|"))
    assert "|1.0000 ± 0.0000|" in oracle and "|10|" in oracle
    assert rows[2] == oracle and oracle.endswith("||")  # the first run found is the reference of paired counts
    assert "mmneedle: +0/-" in rnd  # random never gets a doc right that the oracle missed
    assert main(["eval", "--compare", str(tmp_path)]) == 0 and "model=oracle" in capsys.readouterr().out
    with pytest.raises(MmlongError, match="at least two runs"):
        compare([tmp_path / "oracle"  / "oracle_results.json"])
