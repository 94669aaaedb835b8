#!/usr/bin/env python3
"""Rebuilds wqy-microhei-print.ttf from Debian's wqy-microhei.ttc: face 0 (WenQuanYi Micro Hei,
not the Mono face) as a plain TrueType file, without hinting and without the Macintosh copies
of the name records. Every glyph, metric and cmap entry is kept.

Why: every ticket embeds a subset of this font, so per-glyph overhead is paid on every PDF.
TrueType hinting only steers low-resolution screen rasterisers (PDF viewers and printers
mostly ignore it), yet its instructions and tables were ~10 % of each embedded subset.

    apt-get install -y fonts-wqy-microhei
    pip install fonttools
    python3 assets/fonts/make-primary.py
"""
import os
from fontTools.ttLib import TTFont

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
OUT = os.path.join(HERE, "wqy-microhei-print.ttf")

font = TTFont(SRC, fontNumber=0)
for tag in ("fpgm", "prep", "cvt ", "hdmx", "LTSH", "VDMX", "gasp"):
    if tag in font:
        del font[tag]
glyf = font["glyf"]
for name in font.getGlyphOrder():
    g = glyf[name]
    if hasattr(g, "program"):
        g.program.fromBytecode(b"")
font["maxp"].maxSizeOfInstructions = 0
font["name"].names = [n for n in font["name"].names if n.platformID == 3]
font.save(OUT)
print(f"{OUT} ({os.path.getsize(OUT)} bytes)")
