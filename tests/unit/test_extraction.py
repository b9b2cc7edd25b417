"""Behaviour of ``chalicelib.core.extraction``: real files of every supported format, built in the tests."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from chalicelib.core import extraction
from chalicelib.core.extraction import (
    MAX_DOCUMENT_BYTES,
    ExtractedDocument,
    ExtractionError,
    TextBlock,
    detect_format,
    extract,
)
from tests.fixtures.demo import demo_documents
from tests.fixtures.docx import W_NS, document_xml, make_docx, paragraph_xml
from tests.fixtures.pdf import make_pdf


def texts(document: ExtractedDocument) -> list[str]:
    return [block.text for block in document.blocks]


# --------------------------------------------------------------------------------------------------------------------
# Format detection
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("notes.txt", "txt"),
        ("notes.text", "txt"),
        ("server.log", "txt"),
        ("README.md", "markdown"),
        ("guide.markdown", "markdown"),
        ("page.html", "html"),
        ("page.htm", "html"),
        ("manual.pdf", "pdf"),
        ("faq.docx", "docx"),
        ("data.json", "json"),
        ("rows.jsonl", "jsonl"),
        ("rows.ndjson", "jsonl"),
        ("photo.jpg", "image"),
        ("photo.JPEG", "image"),
        ("scan.tiff", "image"),
        ("phone.heic", "image"),
        ("dir/sub/Report.PDF", "pdf"),
        ("C:\\Users\\me\\faq.DocX", "docx"),
    ],
)
def test_detect_format_by_extension(filename: str, expected: str) -> None:
    assert detect_format(filename, None) == expected


def test_extension_wins_over_content_type() -> None:
    assert detect_format("faq.md", "application/octet-stream") == "markdown"
    assert detect_format("faq.md", "text/html") == "markdown"


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/plain; charset=utf-8", "txt"),
        ("text/markdown", "markdown"),
        ("TEXT/HTML", "html"),
        ("application/pdf", "pdf"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
        ("application/json", "json"),
        ("application/x-ndjson", "jsonl"),
        ("image/png", "image"),
        ("image/x-anything", "image"),
    ],
)
def test_detect_format_falls_back_to_content_type(content_type: str, expected: str) -> None:
    assert detect_format("upload", content_type) == expected


def test_unsupported_extension_is_rejected_with_the_extension_named() -> None:
    with pytest.raises(ExtractionError, match=r"^Unsupported file type: \.xyz$"):
        detect_format("archive.xyz", None)
    with pytest.raises(ExtractionError, match=r"^Unsupported file type: \.exe$"):
        extract(b"MZ\x90\x00", filename="setup.exe", content_type="application/octet-stream")


def test_file_without_extension_or_known_type_is_rejected() -> None:
    with pytest.raises(ExtractionError, match="Unsupported file type"):
        detect_format("Makefile", None)


def test_oversized_file_is_rejected_before_parsing() -> None:
    with pytest.raises(ExtractionError, match=r"^File is larger than 50 MiB$"):
        extract(b"a" * (MAX_DOCUMENT_BYTES + 1), filename="big.txt")


# --------------------------------------------------------------------------------------------------------------------
# Plain text and decoding
# --------------------------------------------------------------------------------------------------------------------


def test_txt_paragraphs_become_blocks_and_first_line_is_title() -> None:
    data = b"Shipping Guide\n\nWe ship from Reno.\nOrders before 1 pm ship today.\n\n   \n\nCanada costs $19.95.\n"
    document = extract(data, filename="shipping.txt")
    assert document == ExtractedDocument(
        title="Shipping Guide",
        blocks=(
            TextBlock("Shipping Guide"),
            TextBlock("We ship from Reno.\nOrders before 1 pm ship today."),
            TextBlock("Canada costs $19.95."),
        ),
        format="txt",
    )


def test_txt_windows_line_endings_and_utf8_bom() -> None:
    document = extract(b"\xef\xbb\xbfTitle line\r\n\r\nBody text\r\n", filename="a.txt")
    assert document.title == "Title line"
    assert texts(document) == ["Title line", "Body text"]


def test_txt_title_is_trimmed_to_200_characters() -> None:
    document = extract(("x" * 500).encode(), filename="long.txt")
    assert document.title == "x" * 200
    assert texts(document) == ["x" * 500]


def test_utf16_with_bom_is_decoded() -> None:
    data = "Héllo 世界\n\nSecond".encode("utf-16")
    assert data[:2] in (b"\xff\xfe", b"\xfe\xff")
    assert texts(extract(data, filename="u16.txt")) == ["Héllo 世界", "Second"]


def test_gb18030_chinese_text_is_decoded() -> None:
    text = "杭州门店\n\n营业时间：每天 10:00–22:00。"
    data = text.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    document = extract(data, filename="stores.txt")
    assert document.title == "杭州门店"
    assert texts(document) == ["杭州门店", "营业时间：每天 10:00–22:00。"]


def test_undecodable_bytes_are_an_error_not_latin1_garbage() -> None:
    with pytest.raises(ExtractionError, match=r"^File is not valid UTF-8 or GB18030 text$"):
        extract(b"\x80\x81\xff binary \xfe\xfd", filename="blob.txt")


@pytest.mark.parametrize("data", [b"", b"   \n\n\t  \r\n"])
@pytest.mark.parametrize("filename", ["empty.txt", "empty.md", "empty.html", "empty.json", "empty.jsonl"])
def test_empty_text_files_give_zero_blocks_not_an_error(data: bytes, filename: str) -> None:
    document = extract(data, filename=filename)
    assert document.blocks == ()
    assert document.title == "empty"


# --------------------------------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------------------------------

MARKDOWN = """---
title: "Warranty Policy"
updated: 2025-02-01
---
# Larkspur Warranty

Read the [full terms](https://example.com/terms) and ![diagram](img.png) see **bold**, *em*, _under_ and `code`.
Wrapped line continues the paragraph; snake_case_names stay intact.

## Periods

- Tents: **5 years**
- Packs: 10 years
1. First step
> A quoted note.

| Category | Years |
|---|---|
| Tents | 5 |

```python
# not a heading
print("hi")
```

### Exclusions

Wear and tear.

## Claims

File online.

# Appendix

Setext heading
--------------

Under setext.
"""


def test_markdown_front_matter_title_and_heading_paths() -> None:
    document = extract(MARKDOWN.encode(), filename="warranty.md")
    assert document.format == "markdown"
    assert document.title == "Warranty Policy"
    assert [(block.headings, block.text) for block in document.blocks] == [
        (
            ("Larkspur Warranty",),
            "Read the full terms and see bold, em, under and code. "
            "Wrapped line continues the paragraph; snake_case_names stay intact.",
        ),
        (("Larkspur Warranty", "Periods"), "Tents: 5 years\nPacks: 10 years\nFirst step\nA quoted note."),
        (("Larkspur Warranty", "Periods"), "Category | Years\nTents | 5"),
        (("Larkspur Warranty", "Periods"), '# not a heading\nprint("hi")'),
        (("Larkspur Warranty", "Periods", "Exclusions"), "Wear and tear."),
        (("Larkspur Warranty", "Claims"), "File online."),
        (("Appendix", "Setext heading"), "Under setext."),
    ]


def test_markdown_front_matter_is_dropped_from_text() -> None:
    document = extract(MARKDOWN.encode(), filename="warranty.md")
    assert not any("updated" in block.text for block in document.blocks)


def test_markdown_title_falls_back_to_first_h1_then_stem() -> None:
    assert extract(b"Intro\n\n# First Heading\n\nText", filename="doc.md").title == "First Heading"
    assert extract(b"## Only level two\n\nText", filename="notes/my-notes.md").title == "my-notes"


def test_markdown_headings_strip_closing_hashes_and_inline_syntax() -> None:
    document = extract(b"# The **Bold** [Title] ##\n\nBody", filename="x.md")
    assert document.blocks == (TextBlock("Body", ("The Bold [Title]",)),)


def test_markdown_hash_without_space_is_not_a_heading() -> None:
    document = extract(b"#hashtag text", filename="x.md")
    assert document.blocks == (TextBlock("#hashtag text", ()),)


def test_markdown_unclosed_fence_keeps_the_code() -> None:
    document = extract(b"Intro\n\n~~~\ncode line\n", filename="x.md")
    assert texts(document) == ["Intro", "code line"]


# --------------------------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html><head>
<title>Trailhead  2P &amp; Friends</title>
<style>p { color: red }</style>
<script>var s = "<p>not text</p>";</script>
</head>
<body>
<noscript>Enable JavaScript</noscript>
<template><h1>Template heading</h1><p>Template text</p></template>
<svg><title>Icon title</title><text>Icon text</text></svg>
<h1>Trailhead <em>2P</em></h1>
<p>A light&nbsp;tent   for
   two people.<br>Second line &lt;b&gt;</p>
<section>
  <h2>Specs</h2>
  <table><tr><th>Weight</th><td>1.8 kg</td></tr><tr><td>Price</td><td>$249</td></tr></table>
  <h3>Poles</h3>
  <div>Aluminum <span>DAC</span> poles</div>
  <h2>Care</h2>
  <ul><li>Dry it</li><li>Store loose</li></ul>
</section>
<h1>Other</h1>
<p>Tail</p>
</body></html>"""


def test_html_visible_text_heading_path_and_title() -> None:
    document = extract(HTML.encode(), filename="tent.html")
    assert document.format == "html"
    assert document.title == "Trailhead 2P & Friends"
    assert [(block.headings, block.text) for block in document.blocks] == [
        (("Trailhead 2P",), "A light tent for two people."),
        (("Trailhead 2P",), "Second line <b>"),
        (("Trailhead 2P", "Specs"), "Weight | 1.8 kg"),
        (("Trailhead 2P", "Specs"), "Price | $249"),
        (("Trailhead 2P", "Specs", "Poles"), "Aluminum DAC poles"),
        (("Trailhead 2P", "Care"), "Dry it"),
        (("Trailhead 2P", "Care"), "Store loose"),
        (("Other",), "Tail"),
    ]


def test_html_skipped_elements_never_leak() -> None:
    joined = " ".join(texts(extract(HTML.encode(), filename="tent.html")))
    for hidden in ("color: red", "not text", "Enable JavaScript", "Template", "Icon"):
        assert hidden not in joined


def test_html_title_falls_back_to_h1_then_stem() -> None:
    assert extract(b"<h1>Main &amp; Co</h1><p>x</p>", filename="a.html").title == "Main & Co"
    assert extract(b"<p>just text</p>", filename="page.htm").title == "page"
    assert extract(b"<svg><title>icon</title></svg><p>x</p>", filename="page.htm").title == "page"


def test_html_pre_keeps_lines() -> None:
    document = extract(b"<pre>line one\n  line two</pre><p>after</p>", filename="a.html")
    assert texts(document) == ["line one\nline two", "after"]


def test_html_without_closing_head_still_has_body_text() -> None:
    document = extract(b"<html><head><title>T</title><body><p>Body text</p>", filename="a.html")
    assert document.title == "T"
    assert texts(document) == ["Body text"]


# --------------------------------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------------------------------


def test_pdf_pages_become_blocks_and_metadata_title_wins() -> None:
    data = make_pdf(
        [["Returns Policy", "", "Unused items: 60 days (with tags)."], ["Refunds take 5\\7 business days."]],
        title="Larkspur Returns",
    )
    document = extract(data, filename="returns.pdf")
    assert document == ExtractedDocument(
        title="Larkspur Returns",
        blocks=(
            TextBlock("Returns Policy\nUnused items: 60 days (with tags)."),
            TextBlock("Refunds take 5\\7 business days."),
        ),
        format="pdf",
    )


def test_pdf_title_falls_back_to_first_line() -> None:
    document = extract(make_pdf([["", "  First real line  ", "more"]]), filename="x.pdf")
    assert document.title == "First real line"


def test_pdf_without_text_needs_ocr() -> None:
    with pytest.raises(ExtractionError, match=r"^PDF has no extractable text \(scanned images need OCR\)$"):
        extract(make_pdf([[""], [""]]), filename="scan.pdf")


@pytest.mark.parametrize("data", [b"%PDF-1.4 garbage", b"", b"hello world", make_pdf([["text"]])[:150]])
def test_corrupt_pdf_reports_a_parse_error(data: bytes) -> None:
    with pytest.raises(ExtractionError, match=r"^PDF could not be parsed: .+") as error:
        extract(data, filename="broken.pdf")
    assert error.value.__cause__ is not None


def _encrypted_pdf(user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["Secret plans."]], title="Secret"))))
    writer.encrypt(user_password=user_password, owner_password="owner-only", algorithm="RC4-128")
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def test_password_protected_pdf_is_rejected() -> None:
    with pytest.raises(ExtractionError, match=r"^PDF is encrypted$"):
        extract(_encrypted_pdf("secret"), filename="locked.pdf")


def test_pdf_with_only_an_owner_password_is_readable() -> None:
    document = extract(_encrypted_pdf(""), filename="restricted.pdf")
    assert texts(document) == ["Secret plans."]
    assert document.title == "Secret"


# --------------------------------------------------------------------------------------------------------------------
# DOCX
# --------------------------------------------------------------------------------------------------------------------


def _docx(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/></Types>'
)
CORE = (
    '<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties '
    'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Company FAQ</dc:title></cp:coreProperties>'
)


def test_docx_heading_paths_tables_and_core_title() -> None:
    body = """
    <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Orders</w:t></w:r></w:p>
    <w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>
      <w:r><w:t xml:space="preserve">Pay by </w:t></w:r><w:r><w:t>card</w:t><w:tab/><w:t>or PayPal</w:t></w:r>
      <w:del><w:r><w:delText>deleted words</w:delText></w:r></w:del>
      <w:r><w:br/><w:t>Second line</w:t></w:r></w:p>
    <w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>Fees</w:t></w:r></w:p>
    <w:tbl>
      <w:tr><w:tc><w:p><w:r><w:t>Plan</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Price</w:t></w:r></w:p></w:tc></w:tr>
      <w:tr><w:tc><w:p><w:r><w:t>Summit</w:t></w:r></w:p><w:p><w:r><w:t>Club</w:t></w:r></w:p></w:tc>
        <w:tc><w:p><w:r><w:t>$49</w:t></w:r></w:p></w:tc></w:tr>
    </w:tbl>
    <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Repairs</w:t></w:r></w:p>
    <w:p/>
    <w:p><w:r><w:t>We fix &amp; mend.</w:t></w:r></w:p>
    """
    data = _docx(
        {"[Content_Types].xml": CONTENT_TYPES, "word/document.xml": document_xml(body), "docProps/core.xml": CORE}
    )
    document = extract(data, filename="faq.docx")
    assert document == ExtractedDocument(
        title="Company FAQ",
        blocks=(
            TextBlock("Pay by card\tor PayPal\nSecond line", ("Orders",)),
            TextBlock("Plan | Price", ("Orders", "Fees")),
            TextBlock("Summit Club | $49", ("Orders", "Fees")),
            TextBlock("We fix & mend.", ("Repairs",)),
        ),
        format="docx",
    )


def test_docx_title_style_heads_the_path_and_is_the_fallback_title() -> None:
    data = make_docx(
        [("Title", "Handbook"), ("Heading1", "Intro"), (None, "Welcome."), ("Heading3", "Deep"), (None, "x")]
    )
    document = extract(data, filename="handbook.docx")
    assert document.title == "Handbook"
    assert [block.headings for block in document.blocks] == [("Handbook", "Intro"), ("Handbook", "Intro", "Deep")]


def test_docx_title_falls_back_to_heading1_then_stem() -> None:
    assert extract(make_docx([("Heading1", "First"), (None, "Body")]), filename="a.docx").title == "First"
    assert extract(make_docx([(None, "Body only")]), filename="plain-doc.docx").title == "plain-doc"


def test_docx_strict_ooxml_namespace_is_read() -> None:
    strict = document_xml(paragraph_xml("Heading1", "Strict") + paragraph_xml(None, "Body")).replace(
        W_NS, "http://purl.oclc.org/ooxml/wordprocessingml/main"
    )
    document = extract(_docx({"word/document.xml": strict}), filename="strict.docx")
    assert document.blocks == (TextBlock("Body", ("Strict",)),)


def test_docx_that_is_not_a_zip_is_rejected() -> None:
    with pytest.raises(ExtractionError, match=r"^DOCX could not be parsed: not a ZIP archive$"):
        extract(b"PK\x03\x04 definitely not a zip", filename="bad.docx")


def test_docx_without_document_xml_is_rejected() -> None:
    with pytest.raises(ExtractionError, match=r"^DOCX could not be parsed: word/document\.xml is missing$"):
        extract(_docx({"[Content_Types].xml": CONTENT_TYPES}), filename="empty.docx")


def test_docx_with_malformed_xml_is_rejected() -> None:
    with pytest.raises(ExtractionError, match=r"^DOCX could not be parsed: .+"):
        extract(_docx({"word/document.xml": "<w:document><w:body>"}), filename="broken.docx")


# --------------------------------------------------------------------------------------------------------------------
# JSON and JSON Lines
# --------------------------------------------------------------------------------------------------------------------


def test_json_object_is_one_flattened_block_with_its_title() -> None:
    value = {
        "title": "Trailhead 2P",
        "price": 249.00,
        "specs": {"weight_kg": 1.8, "colors": ["Sage", "Ember"], "poles": [{"material": "aluminum"}]},
        "in_stock": True,
        "discontinued": None,
        "tags": [],
    }
    text = json.dumps(value).replace("249.0", "249.00")
    document = extract(text.encode(), filename="tent.json")
    assert document.title == "Trailhead 2P"
    assert texts(document) == [
        "title: Trailhead 2P\n"
        "price: 249.00\n"
        "specs.weight_kg: 1.8\n"
        "specs.colors[0]: Sage\n"
        "specs.colors[1]: Ember\n"
        "specs.poles[0].material: aluminum\n"
        "in_stock: true\n"
        "discontinued: null"
    ]


def test_json_array_gives_one_block_per_element() -> None:
    data = json.dumps([{"name": "Tent", "price": 249}, "plain note", [1, 2], {}], ensure_ascii=False).encode()
    document = extract(data, filename="products.json")
    assert document.title == "products"
    assert texts(document) == ["name: Tent\nprice: 249", "plain note", "[0]: 1\n[1]: 2"]


def test_json_non_string_title_is_ignored() -> None:
    assert extract(b'{"title": 12.5, "a": 1}', filename="n.json").title == "n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1,}', r"^Invalid JSON: line 1 column 9$"),
        (b'{\n  "a": 1\n  "b": 2\n}', r"^Invalid JSON: line 3 column 3$"),
        (b"not json", r"^Invalid JSON: line 1 column 1$"),
    ],
)
def test_invalid_json_names_line_and_column(data: bytes, message: str) -> None:
    with pytest.raises(ExtractionError, match=message):
        extract(data, filename="bad.json")


def test_jsonl_one_block_per_line_and_blank_lines_skipped() -> None:
    data = b'{"sku": "A", "price": 10.50}\n\n{"sku": "B", "tags": ["x"]}\r\n"just text"\n'
    document = extract(data, filename="rows.jsonl")
    assert document.format == "jsonl"
    assert texts(document) == ["sku: A\nprice: 10.50", "sku: B\ntags[0]: x", "just text"]


def test_jsonl_bad_line_is_named() -> None:
    with pytest.raises(ExtractionError, match=r"^Invalid JSON on line 3: column \d+$"):
        extract(b'{"a": 1}\n\n{"b": oops}\n', filename="rows.ndjson")


def test_deeply_nested_json_is_a_clean_error() -> None:
    with pytest.raises(ExtractionError, match="JSON could not be parsed"):
        extract(b"[" * 100_000, filename="deep.json")


# --------------------------------------------------------------------------------------------------------------------
# Images and robustness
# --------------------------------------------------------------------------------------------------------------------


def test_images_carry_no_text() -> None:
    assert extract(b"\x89PNG\r\n\x1a\n....", filename="tent-photo.png") == ExtractedDocument(
        title="tent-photo", blocks=(), format="image"
    )
    assert extract(b"\xff\xd8\xff", filename="upload", content_type="image/jpeg").format == "image"


def test_unexpected_parser_failures_are_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(data: bytes, stem: str) -> tuple[str, list[TextBlock]]:
        raise RuntimeError("boom\nwith a second line")

    monkeypatch.setitem(extraction._PARSERS, "markdown", explode)
    with pytest.raises(ExtractionError, match=r"^Markdown could not be parsed: boom with a second line$") as error:
        extract(b"# hi", filename="a.md")
    assert isinstance(error.value.__cause__, RuntimeError)


def test_blocks_never_have_blank_text() -> None:
    samples = {
        "a.txt": b"\n\n  x  \n\n\n",
        "a.md": b"#\n\n##   \n\n> \n\n- \n\ntext",
        "a.html": b"<p> </p><div>\n</div><p>text</p>",
        "a.jsonl": b'{"a": ""}\n{}\n[]\n',
    }
    for filename, data in samples.items():
        for block in extract(data, filename=filename).blocks:
            assert block.text.strip() == block.text != ""


@pytest.mark.parametrize("path", demo_documents(), ids=lambda path: path.name)
def test_demo_documents_extract(path: Path) -> None:
    document = extract(path.read_bytes(), filename=path.name)
    assert document.title
    assert document.blocks
    assert all(block.text.strip() for block in document.blocks)
