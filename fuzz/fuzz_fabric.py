# SPDX-License-Identifier: GPL-2.0-only
"""atheris harness: YAML fabrics and lspci dumps through `pcilu fabric show --json`.

Corpus: fixtures/fuzz-corpus/fabric/ (regenerate with fuzz/make_corpus.py). Run through
fuzz/run.py, or directly: python fuzz/fuzz_fabric.py CORPUS_DIR... [-atheris_runs=N]
"""
from harness import run_harness

if __name__ == "__main__":
    run_harness("fabric")
