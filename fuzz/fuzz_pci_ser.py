# SPDX-License-Identifier: GPL-2.0-only
"""atheris harness: `struct pci_ser` of every profile through `pcilu inspect --profile P --json`
and the --hex rendering.

Corpus: fixtures/fuzz-corpus/pci_ser/ (regenerate with fuzz/make_corpus.py). Run through
fuzz/run.py, or directly: python fuzz/fuzz_pci_ser.py CORPUS_DIR... [-atheris_runs=N]
"""
from harness import run_harness

if __name__ == "__main__":
    run_harness("pci_ser")
