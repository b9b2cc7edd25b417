"""Regenerate the binary demo documents in ``examples/docs``: the returns policy PDF and the company FAQ DOCX.

The text lives here, in reviewable form; the generated files are committed so the demo works without running this
script. Both writers are deterministic, so re-running it only changes the files when this text changes.

Usage: ``python scripts/make_demo_pdf.py [output-directory]`` (default: ``examples/docs``).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.fixtures.docx import Paragraph, Table, make_docx
from tests.fixtures.pdf import make_pdf

_LINE_WIDTH = 88

RETURNS_TITLE = "Larkspur Outdoor Returns and Refunds Policy"

# Each page is a list of paragraphs; a paragraph starting with "# " is a heading line.
RETURNS_PAGES: list[list[str]] = [
    [
        "# Larkspur Outdoor Returns and Refunds Policy",
        "Effective March 1, 2025. Applies to orders placed at larkspur-outdoor.example and in Larkspur stores in "
        "Denver, Portland, Seattle and Salt Lake City.",
        "# Return window",
        "Unused items in their original condition, with tags attached, can be returned within 60 days of delivery "
        "for a full refund. Trail Club members get an extended 90-day return window on every order.",
        "# Trail Tested Promise",
        "Used it and it did not work for you? Gear that has been used outdoors can still be returned within 30 days "
        "of delivery, once per product, as long as it is clean and undamaged. Footwear must have fewer than 50 miles "
        "on it.",
        "# Items that cannot be returned",
        "Opened fuel canisters, personalised or custom-embroidered items, gift cards and clearance items marked "
        "Final Sale cannot be returned. Defective items are always handled under the warranty policy instead.",
        "# How to return an item",
        "Start a return at larkspur-outdoor.example/returns with your order number and email address. We email a "
        "prepaid UPS label; a return shipping fee of $7.95 is deducted from the refund unless you exchange the item, "
        "the item is defective, or you are a Trail Club member. You can also return online orders in any Larkspur "
        "store at no charge.",
    ],
    [
        "# Refunds",
        "Returns are processed within 3 business days of arriving at our Reno, Nevada warehouse, or immediately "
        "when returned in a store. Refunds go back to the original payment method; most banks post the credit "
        "within 5 to 7 business days. Items bought with a gift card are refunded as store credit.",
        "# Exchanges",
        "Exchanges for a different size or color ship free with standard shipping. If the new item costs more, we "
        "charge the difference; if it costs less, we refund the difference to the original payment method.",
        "# Price adjustments",
        "If the price of an item drops within 14 days of your purchase, contact us and we will refund the "
        "difference once per item. Price adjustments do not apply to clearance or flash-sale prices.",
        "# Damaged or missing deliveries",
        "Report a package that arrived damaged, or an item missing from your order, within 7 days of delivery "
        "with a photo of the box and the item. We ship a replacement at no cost.",
        "# Orders in mainland China",
        "Orders from our Hangzhou, Shanghai and Beijing stores and our Chinese mini program follow the Chinese "
        "policy, including 7-day no-reason returns. See the Chinese warranty policy document for details.",
        "# Questions",
        "Email care@larkspur-outdoor.example or call 1-800-555-0142, Monday to Friday, 8 am to 6 pm Mountain Time.",
    ],
]

FAQ_TITLE = "Larkspur Outdoor Frequently Asked Questions"

FAQ_BODY: list[Paragraph | Table] = [
    ("Title", "Frequently Asked Questions"),
    ("Heading1", "About Larkspur Outdoor"),
    (None, "Larkspur Outdoor was founded in 2011 in Boulder, Colorado, by two former trail crew leaders. We design "
           "tents, packs, sleeping bags and trail clothing, and we run a repair center in Reno, Nevada."),
    (None, "We have four stores in the United States (Denver, Portland, Seattle and Salt Lake City) and three in "
           "mainland China (Hangzhou, Shanghai and Beijing)."),
    ("Heading1", "Orders and payment"),
    ("Heading2", "Which payment methods do you accept?"),
    (None, "Visa, Mastercard, American Express, Discover, PayPal, Apple Pay and Larkspur gift cards. In our Chinese "
           "stores we also accept Alipay and WeChat Pay."),
    ("Heading2", "Can I change or cancel my order?"),
    (None, "Orders can be changed or cancelled within 30 minutes of being placed. After that the order is already "
           "being picked in Reno, and you can return it once it arrives."),
    ("Heading1", "Membership"),
    (None, "The Larkspur Trail Club is free to join. The Summit Club costs $49 per year. Benefits compared:"),
    [
        ["Benefit", "Trail Club (free)", "Summit Club ($49/year)"],
        ["Rewards on purchases", "5% back", "10% back"],
        ["Return window", "90 days", "90 days"],
        ["Return shipping", "Free", "Free"],
        ["Shipping", "Free standard shipping", "Free expedited shipping"],
        ["Pole crash replacement", "50% off", "50% off"],
    ],
    ("Heading1", "Repairs and rentals"),
    ("Heading2", "Do you rent gear?"),
    (None, "Yes. Our Denver and Seattle stores rent tents for $25 per night and backpacks for $15 per night; the "
           "Hangzhou store rents trekking poles and sleeping bags from 30 yuan per day."),
    ("Heading2", "Can you repair gear from other brands?"),
    (None, "Our Reno repair center fixes zippers, seams and tent poles for any brand at the same prices we charge "
           "for out-of-warranty Larkspur repairs, starting at $25."),
]


def returns_pdf() -> bytes:
    """The two-page returns policy, paragraphs wrapped to fit the page and separated by blank lines."""
    pages: list[list[str]] = []
    for paragraphs in RETURNS_PAGES:
        lines: list[str] = []
        for paragraph in paragraphs:
            if lines:
                lines.append("")
            text = paragraph.removeprefix("# ")
            lines.extend(textwrap.wrap(text, _LINE_WIDTH) if text == paragraph else [text.upper()])
        pages.append(lines)
    return make_pdf(pages, title=RETURNS_TITLE)


def company_faq_docx() -> bytes:
    """The company FAQ: headings, paragraphs and a membership table."""
    return make_docx(FAQ_BODY, title=FAQ_TITLE)


def main(argv: list[str]) -> int:
    output = Path(argv[1]) if len(argv) > 1 else REPO_ROOT / "examples" / "docs"
    output.mkdir(parents=True, exist_ok=True)
    for name, data in (("returns-and-refunds.pdf", returns_pdf()), ("company-faq.docx", company_faq_docx())):
        (output / name).write_bytes(data)
        print(f"wrote {output / name} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
