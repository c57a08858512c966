# SPDX-License-Identifier: GPL-2.0-only
"""atheris harness: KHO root FDTs and LUO FDTs through read_kho_root_fdt() / read_luo_fdt().

Corpus: fixtures/fuzz-corpus/fdt/ (regenerate with fuzz/make_corpus.py). Run through
fuzz/run.py, or directly: python fuzz/fuzz_fdt.py CORPUS_DIR... [-atheris_runs=N]
"""
from harness import run_harness

if __name__ == "__main__":
    run_harness("fdt")
