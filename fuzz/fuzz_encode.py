# SPDX-License-Identifier: GPL-2.0-only
"""atheris harness: `pcilu encode` JSON specs (the documents `inspect --json` prints).

Corpus: fixtures/fuzz-corpus/encode/ (regenerate with fuzz/make_corpus.py). Run through
fuzz/run.py, or directly: python fuzz/fuzz_encode.py CORPUS_DIR... [-atheris_runs=N]
"""
from harness import run_harness

if __name__ == "__main__":
    run_harness("encode")
