"""`python -m gossamer.kernels`: compile the CPU kernels now (instead of on first use) and report."""

from __future__ import annotations

import argparse
import logging
import sys

from gossamer.kernels.build import KernelBuildError, build_library


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--force", action="store_true", help="recompile even if the cache holds a build")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        path = build_library(force=args.force)
    except KernelBuildError as exc:
        print(f"CPU kernels unavailable: {exc}", file=sys.stderr)
        return 1
    from gossamer import kernels

    if not kernels.available():
        print(f"CPU kernels built at {path} but could not be loaded: {kernels.unavailable_reason()}",
              file=sys.stderr)
        return 1
    print(f"library: {path}")
    print(f"instruction sets: {', '.join(kernels.supported_isas())} (using {kernels.current_isa()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
