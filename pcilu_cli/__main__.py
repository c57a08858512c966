# SPDX-License-Identifier: GPL-2.0-only
from pcilu_cli.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
