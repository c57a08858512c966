# SPDX-License-Identifier: GPL-2.0-only
"""atheris harness: the KHO radix-tree memory tracker (a raw page image) through decode_radix_tree().

Corpus: fixtures/fuzz-corpus/radix/ (regenerate with fuzz/make_corpus.py). Run through
fuzz/run.py, or directly: python fuzz/fuzz_radix.py CORPUS_DIR... [-atheris_runs=N]
"""
from harness import run_harness

if __name__ == "__main__":
    run_harness("radix")
