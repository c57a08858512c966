# SPDX-License-Identifier: GPL-2.0-only
"""Pages and folio orders (x86_64 / arm64 with 4K pages): what every hand-over layout sizes
its allocations with. Re-exported by :mod:`pcilu_cli.abi.kho`; here without Construct, so that
telling a blob apart by its size imports nothing else."""

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
MAX_PAGE_ORDER = 10                       # MAX_PAGE_ORDER on x86_64 / arm64 4K pages


def get_order(size: int) -> int:
    """get_order(): smallest order whose folio holds ``size`` bytes (one page at least)."""
    pages = max(1, (size + PAGE_SIZE - 1) >> PAGE_SHIFT)
    return (pages - 1).bit_length()
