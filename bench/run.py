"""Run every benchmark in this package: `python -m bench.run` (what `make bench` calls).

A benchmark is a module here with `main() -> int` that prints its results and returns 0
when every target it checks passes.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def benchmarks() -> list[str]:
    names = (module.name for module in pkgutil.iter_modules([str(Path(__file__).parent)]))
    return sorted(name for name in names if name != "run" and not name.startswith("_"))


def main() -> int:
    failed = []
    for name in benchmarks():
        print(f"== bench.{name}", flush=True)
        if importlib.import_module(f"bench.{name}").main() != 0:
            failed.append(name)
        print(flush=True)
    if failed:
        print(f"targets missed in: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
