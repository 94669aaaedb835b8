#!/usr/bin/env python3
"""Rebuilds droid-fallback-ext.ttf: the glyphs of Droid Sans Fallback that WenQuanYi Micro Hei
(face 0) lacks, mostly CJK Extension A name characters such as 䶮. Shipping only those keeps the
fallback at a few hundred KB instead of 4 MB.

    apt-get install -y fonts-wqy-microhei fonts-droid-fallback
    pip install fonttools
    python3 assets/fonts/make-fallback-subset.py
"""
import os
from fontTools import subset
from fontTools.ttLib import TTFont

HERE = os.path.dirname(os.path.abspath(__file__))
WQY = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
DROID = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"
OUT = os.path.join(HERE, "droid-fallback-ext.ttf")

have = set(TTFont(WQY, fontNumber=0).getBestCmap())
extra = sorted(set(TTFont(DROID).getBestCmap()) - have)

opts = subset.Options()
opts.layout_features = []  # no shaping is done for these: plain cmap lookups
opts.name_IDs = ["*"]  # keep the copyright and licence records
opts.notdef_outline = True
opts.hinting = False
font = TTFont(DROID)
sub = subset.Subsetter(opts)
sub.populate(unicodes=extra)
sub.subset(font)
font.save(OUT)
print(f"{len(extra)} code points -> {OUT} ({os.path.getsize(OUT)} bytes)")
