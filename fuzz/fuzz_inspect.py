# SPDX-License-Identifier: GPL-2.0-only
"""atheris harness: `pcilu inspect --json` on arbitrary bytes: auto-detection reaches every decoder
(ELF images, root FDTs, FLB pages, pci_ser of each layout).

Corpus: fixtures/fuzz-corpus/inspect/ (regenerate with fuzz/make_corpus.py). Run through
fuzz/run.py, or directly: python fuzz/fuzz_inspect.py CORPUS_DIR... [-atheris_runs=N]
"""
from harness import run_harness

if __name__ == "__main__":
    run_harness("inspect")
