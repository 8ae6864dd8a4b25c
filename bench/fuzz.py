"""Long fuzzing runs: random networks compiled and simulated in Verilator against the reference interpreter.

    python bench/fuzz.py --minutes 10            # the same as python -m hardcore.fuzz --minutes 10

Prints, as it goes and at the end: Verilator builds, networks, vectors and
mismatches; a failing batch (shrunk by hypothesis) is printed with its seed.
Options: see `python -m hardcore.fuzz --help` and docs/verification.md.
"""

import sys

from hardcore.fuzz import main

if __name__ == "__main__":
    sys.exit(main())
