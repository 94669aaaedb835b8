#!/usr/bin/env python3
"""Writes prepared-pool.txt: the characters a ticket's prepared font subset holds besides the
exam's own fixed texts (src/fonts.rs, `PreparedSubsets`).

Why GB2312: a ticket prints the candidate's name, ID number, ticket number and room, which are
not known when the subset is prepared for the exam. GB2312's 6,763 hanzi are the characters of
the great majority of Chinese names; with printable ASCII, GB2312's punctuation row and its
full-width forms, almost every ticket of an exam is drawn from the one prepared subset. A
character outside the pool (e.g. 堃, 喆) still prints: that ticket takes the full-font path.

    python3 assets/fonts/make-prepared-pool.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "prepared-pool.txt")

chars = [chr(c) for c in range(0x21, 0x7F)]
# Python's gb2312 codec maps the middle dot and the dash to U+30FB and U+2015; names such as
# 阿卜杜热合曼·买买提 and times such as 09:00—11:30 are typed with U+00B7 and U+2014 (and
# ranges with U+2013).
chars += ["\u00b7", "\u2014", "\u2013"]
# Row 1 (punctuation and symbols), row 3 (full-width forms), rows 16-87 (hanzi, both levels).
for hi in [0xA1, 0xA3] + list(range(0xB0, 0xF8)):
    for lo in range(0xA1, 0xFF):
        try:
            chars.append(bytes([hi, lo]).decode("gb2312"))
        except UnicodeDecodeError:
            pass
seen = set()
pool = [c for c in chars if not (c in seen or seen.add(c))]
with open(OUT, "w", encoding="utf-8") as f:
    # 80 characters a line keeps the file reviewable; the reader ignores line breaks.
    for i in range(0, len(pool), 80):
        f.write("".join(pool[i : i + 80]) + "\n")
print(f"{len(pool)} characters -> {OUT}")
