"""A manual-like PDF made with fpdf2: a table of contents, running headers, an index.

Real manuals carry these on every page or in whole pages, and each of them shares words with
almost any question about the manual; tests check that they are marked and kept out of the
top results (`ingest.hygiene`).
"""

from __future__ import annotations

from pathlib import Path

CHAPTERS = [
    (
        "Installation",
        "Install the widget controller with the vendor package. The installer "
        "copies the firmware image and registers the udev rule that grants access to the serial port.",
    ),
    (
        "Calibration",
        "Calibrate the torque sensor before first use. Hold the arm level, press the "
        "zero button for three seconds, and wait until the status lamp turns green.",
    ),
    (
        "Maintenance",
        "Lubricate the gearbox every 400 operating hours with lithium grease. Replace "
        "the drive belt when its tension falls below 40 newtons.",
    ),
    (
        "Troubleshooting",
        "A blinking red lamp means the controller lost its encoder signal. Check "
        "the encoder cable for a loose connector and restart the controller.",
    ),
]
TITLE = "Acme Widget Controller Manual"


def write_manual(path: Path) -> Path:
    from fpdf import FPDF

    class Manual(FPDF):
        chapter = ""

        def header(self) -> None:
            if self.page_no() > 1:
                self.set_font("Helvetica", size=9)
                self.cell(0, 6, f"{TITLE} - {self.chapter}", new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", size=9)
            self.cell(0, 6, f"Page {self.page_no()}", align="C")

    pdf = Manual()
    pdf.set_title(TITLE)
    pdf.add_page()
    pdf.set_font("Helvetica", size=20)
    pdf.cell(0, 20, TITLE, new_x="LMARGIN", new_y="NEXT")
    pdf.chapter = "Contents"
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.cell(0, 8, "Contents", new_x="LMARGIN", new_y="NEXT")
    for i, (name, _) in enumerate(CHAPTERS, start=1):
        for j, part in enumerate(("Overview", "Procedure", "Safety notes"), start=1):
            entry = f"{i}.{j} {name}: {part} "
            pdf.cell(
                0,
                7,
                entry + "." * (70 - len(entry)) + f" {2 + i * 2 + j // 2}",
                new_x="LMARGIN",
                new_y="NEXT",
            )
    for name, text in CHAPTERS:
        pdf.chapter = name
        for part in range(2):
            pdf.add_page()
            pdf.set_font("Helvetica", size=11)
            pdf.multi_cell(0, 6, f"{name}, part {part + 1}. {text} " * 3)
    pdf.chapter = "Index"
    pdf.add_page()
    pdf.cell(0, 8, "Index", new_x="LMARGIN", new_y="NEXT")
    for term, pages in [
        ("belt tension", "9"),
        ("calibration", "5, 6"),
        ("encoder", "11, 12"),
        ("firmware", "3"),
        ("gearbox", "9, 10"),
        ("lamp, green", "5"),
        ("lamp, red", "11"),
        ("serial port", "3, 4"),
        ("torque sensor", "5-6"),
        ("udev rule", "3"),
    ]:
        pdf.cell(0, 7, f"{term}, {pages}", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path
