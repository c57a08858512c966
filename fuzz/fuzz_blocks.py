# SPDX-License-Identifier: GPL-2.0-only
"""atheris harness: kho_block chains (a raw page image) through kho_block_set_restore().

Corpus: fixtures/fuzz-corpus/blocks/ (regenerate with fuzz/make_corpus.py). Run through
fuzz/run.py, or directly: python fuzz/fuzz_blocks.py CORPUS_DIR... [-atheris_runs=N]
"""
from harness import run_harness

if __name__ == "__main__":
    run_harness("blocks")
