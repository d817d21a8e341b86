"""`rating-tech label` (the installed console script) against a real collector's registry: a PDF
page per box at the label printer's size, whose QR code a reader (zbarimg, on the page rendered at
the printer's 300 dpi by pdftoppm) reads back as the box id; clear errors for what cannot be
printed."""

from __future__ import annotations

import io
import shutil
import subprocess
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.helpers.collector_stack import Stack, collector_stack
from tests.helpers.technician import Tech

MM = 72 / 25.4  # PDF points per millimetre


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with collector_stack() as made:
        yield made


@pytest.fixture(scope="module")
def tech(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Tech:
    return Tech({"RATING_DATA_DIR": str(stack.data_dir), "RATING_DATABASE_URL": stack.collector.db_url,
                 "RATING_TECH_SETTINGS": str(stack.data_dir / "no-such.env"),
                 "RATING_TECH_COLLECTOR_URL": stack.collector.url,
                 "RATING_TECH_TOKEN_FILE": str(stack.token_file("viewer"))}, tmp_path_factory.mktemp("tech"))


def pages_text(pdf: bytes) -> list[str]:
    return [" ".join(unicodedata.normalize("NFC", page.extract_text()).split())
            for page in PdfReader(io.BytesIO(pdf)).pages]


def qr_codes(pdf: Path, tmp_path: Path) -> list[str]:
    """What a QR reader reads on each page, as printed at 300 dpi."""
    pdftoppm, zbarimg = shutil.which("pdftoppm"), shutil.which("zbarimg")
    assert pdftoppm and zbarimg, "apt-get install poppler-utils zbar-tools (scripts/system-packages.sh)"
    subprocess.run([pdftoppm, "-r", "300", "-png", str(pdf), str(tmp_path / "page")], check=True)
    found = []
    for image in sorted(tmp_path.glob("page*.png")):
        read = subprocess.run([zbarimg, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(image)],
                              capture_output=True, text=True, check=False)
        assert read.returncode == 0, f"no QR code read on {image.name}: {read.stderr}"
        found.append(read.stdout.strip())
    return found


def test_every_box_gets_a_sticker_its_qr_code_reads_back(tech: Tech, tmp_path: Path) -> None:
    out = tmp_path / "stickers.pdf"
    ran = tech("label", "--all", "--out", str(out))
    assert ran.exit_code == 0, ran.output
    assert "2 stickers (62x29 mm)" in ran.stdout and "box-017, box-018" in ran.stdout
    reader = PdfReader(out)
    for page in reader.pages:  # the roll's size, as the printer feeds it
        assert (round(float(page.mediabox.width) / MM), round(float(page.mediabox.height) / MM)) == (62, 29)
    texts = pages_text(out.read_bytes())
    assert "box-017" in texts[0] and "Quầy / counter 17" in texts[0] and "Lắp đặt / installed" in texts[0]
    assert "box-018" in texts[1] and "Quầy / counter 18" in texts[1]
    assert qr_codes(out, tmp_path) == ["box-017", "box-018"]


def test_one_box_at_another_size(tech: Tech, tmp_path: Path) -> None:
    out = tmp_path / "one.pdf"
    ran = tech("label", "box-018", "--size", "50x30", "--out", str(out))
    assert ran.exit_code == 0, ran.output
    page, = PdfReader(out).pages
    assert (round(float(page.mediabox.width) / MM), round(float(page.mediabox.height) / MM)) == (50, 30)
    assert qr_codes(out, tmp_path) == ["box-018"]


@pytest.mark.parametrize(("args", "says"), [
    (["box-999"], "box-999 is not in the registry"),
    (["--size", "10x10", "box-017"], "each side must be 20 to 300 mm"),
    (["--size", "big", "box-017"], "give width x height in millimetres"),
    (["--size", "20x60", "box-017"], "no room for text"),
    ([], "give box ids or --all"),
    (["--all", "box-017"], "give box ids or --all"),
], ids=["unknown box", "too small", "not a size", "too narrow", "nothing asked", "both asked"])
def test_what_cannot_be_printed_is_refused_clearly(tech: Tech, tmp_path: Path, args: list[str], says: str) -> None:
    out = tmp_path / "no.pdf"
    ran = tech("label", *args, "--out", str(out))
    assert ran.exit_code != 0 and says in ran.output, ran.output
    assert "Traceback" not in ran.output and not out.exists()
