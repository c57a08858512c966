# SPDX-License-Identifier: GPL-2.0-only
"""atheris harness: pcilu state files (ELF core images) through `inspect` and `enumerate`.

Corpus: fixtures/fuzz-corpus/state/ (regenerate with fuzz/make_corpus.py). Run through
fuzz/run.py, or directly: python fuzz/fuzz_state.py CORPUS_DIR... [-atheris_runs=N]
"""
from harness import run_harness

if __name__ == "__main__":
    run_harness("state")
