# SPDX-License-Identifier: GPL-2.0-only
"""atheris harness: ELF64 core images (state files, QEMU dumps, vmcores) through read_elf_core().

Corpus: fixtures/fuzz-corpus/elf/ (regenerate with fuzz/make_corpus.py). Run through
fuzz/run.py, or directly: python fuzz/fuzz_elf.py CORPUS_DIR... [-atheris_runs=N]
"""
from harness import run_harness

if __name__ == "__main__":
    run_harness("elf")
