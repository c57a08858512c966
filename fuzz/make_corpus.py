# SPDX-License-Identifier: GPL-2.0-only
"""Regenerate fixtures/fuzz-corpus/<harness>/ from the project's own encoders and fixtures.

Each file is one valid seed input (named after its seed label). Seeds whose encoder has not
landed yet are skipped with a note. Re-run whenever an encoder or a fixture changes:

    python fuzz/make_corpus.py            # all harnesses
    python fuzz/make_corpus.py inspect    # one
"""
from __future__ import annotations

import hashlib
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import targetlib as T  # noqa: E402


def corpus_for(name: str) -> list:
    seen, out, notes = set(), [], []
    for tname in T.HARNESSES[name]["corpus"]:
        try:
            seeds = T.TARGETS[tname].seeds()
        except T.Unavailable as e:
            notes.append(f"{tname}: {e}")
            continue
        for s in seeds:
            digest = hashlib.sha1(s.data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            label = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{tname}.{s.label}")
            out.append((label, s.data))
    return out, notes


def main(argv) -> int:
    names = argv or sorted(T.HARNESSES)
    for name in names:
        files, notes = corpus_for(name)
        d = T.CORPUS / name
        d.mkdir(parents=True, exist_ok=True)
        keep = set()
        for label, data in files:
            (d / label).write_bytes(data)
            keep.add(label)
        for old in os.listdir(d):
            if old not in keep:
                os.unlink(d / old)
        if not files:
            d.rmdir()
        print(f"{d.relative_to(T.REPO)}: {len(files)} seeds")
        for n in notes:
            print(f"  skipped {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
