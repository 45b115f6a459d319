"""doc_runner: the next chunk loads while the current one is answered; records are the same either way."""

import threading

from mmlong.eval import EvalConfig
from mmlong.eval.doc_runner import run_docs_prefetched
from mmlong.eval.tasks.base import Doc, Request, Task


class SlowLoadTask(Task):
    """Doc i's loader sets loaded[i]; scoring is exact match with the doc id."""

    name = "fake"

    def __init__(self, n):
        super().__init__()
        self.loaded = [threading.Event() for _ in range(n)]
        self.loader_threads = set()

    def docs(self):
        return [Doc(str(i), {"i": i}) for i in range(len(self.loaded))]

    def reference(self, doc):
        return doc.doc_id, {"answer": doc.doc_id}

    def request(self, doc):
        def images():
            self.loader_threads.add(threading.current_thread().name)
            self.loaded[doc.data["i"]].set()
            if doc.doc_id == "3":
                raise OSError("corrupt media")
            return []

        return Request(text=f"doc {doc.doc_id}", images=images)

    def score(self, ref, response, *, seed=0, doc_id=""):
        return {"acc": None if response is None else float(response == ref["answer"])}


class EchoModel:
    """Answers a doc with its id; while answering doc i it waits (up to 5 s) for doc i+1 to be loaded."""

    def __init__(self, task, batch=False, wait=True):
        self.task, self.saw_next, self.wait = task, [], wait
        if batch:
            self.generate_batch = self._batch

    def generate(self, req, images, clip, key):
        i = int(key.split("/")[1])
        if self.wait and i + 1 < len(self.task.loaded):
            self.saw_next.append(self.task.loaded[i + 1].wait(5))
        return key.split("/")[1], {}

    def _batch(self, items):
        last = max(int(k.split("/")[1]) for *_, k in items)
        if self.wait and last + 1 < len(self.task.loaded):
            self.saw_next.append(self.task.loaded[last + 1].wait(5))
        return [(k.split("/")[1], {}) for *_, k in items]


def _run(n, batch_size, prefetch, batch_model):
    task = SlowLoadTask(n)
    model = EchoModel(task, batch=batch_model, wait=prefetch)
    cfg = EvalConfig(model="echo", tasks=("fake",), batch_size=batch_size)
    recs = list(run_docs_prefetched(task, task.docs(), model, cfg, prefetch=prefetch))
    return task, model, [{k: v for k, v in r.items() if k not in ("timings", "date")} for r in recs]


def test_next_doc_loads_while_the_current_one_is_answered():
    task, model, recs = _run(6, 1, True, False)
    assert model.saw_next and all(model.saw_next)  # doc i+1 was loaded before doc i's answer returned
    assert task.loader_threads == {"mmlong-prefetch_0"}
    assert [r["doc_id"] for r in recs] == [str(i) for i in range(6)]
    assert recs[3]["error"] == "input: OSError: corrupt media" and recs[3]["acc"] is None
    assert all(r["acc"] == 1.0 for r in recs if r["doc_id"] != "3")


def test_batches_prefetch_the_next_chunk_and_match_the_serial_run():
    _, model, batched = _run(7, 3, True, True)
    assert model.saw_next == [True, True]  # chunks [0,1,2] [3,4,5] [6]
    _, _, serial = _run(7, 1, False, False)
    assert batched == serial  # same records with batching + prefetch as one by one without
    assert all(r["filtered_resps"] == [r["doc_id"]] for r in batched if not r["error"])
