"""Load time and peak memory of loading a 20b-shaped synthetic checkpoint.

    python benchmarks/load_checkpoint.py [--preset 20b] [--layout original|hf] [--dir DIR] [--delete]

Writes the checkpoint first unless DIR already holds one (reused), then loads it in a fresh
child process, so the peak resident set measured is the loader's alone. The goal: peak RSS
<= 1.15 x the checkpoint's size (MXFP4 experts stay packed; tensors are read one at a time
straight into their final buffers).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

_CHILD = """
import json, resource, sys, time
import torch
from gossamer.model.loader import load_model
started = time.perf_counter()
model = load_model(sys.argv[1], dtype=torch.bfloat16)
seconds = time.perf_counter() - started
resident = sum(t.numel() * t.element_size() for t in model.state_dict().values())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
print(json.dumps({"load_s": seconds, "peak_rss_bytes": peak, "model_bytes": resident}))
"""


def checkpoint_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.glob("*.safetensors"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="20b")
    parser.add_argument("--layout", choices=["original", "hf"], default="original")
    parser.add_argument("--dir", type=Path, default=None,
                        help="checkpoint directory (default: /tmp/gossamer-PRESET-LAYOUT)")
    parser.add_argument("--delete", action="store_true", help="delete the checkpoint afterwards")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = args.dir or Path(f"/tmp/gossamer-{args.preset}-{args.layout}")
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))

    if (path / "config.json").is_file() and checkpoint_bytes(path) > 0:
        print(f"reusing {path}")
    else:
        from gossamer.model.config import PRESETS
        from gossamer.testing.checkpoint import write_checkpoint

        started = time.perf_counter()
        write_checkpoint(path, PRESETS[args.preset], layout=args.layout)
        print(f"wrote {path} in {time.perf_counter() - started:.0f} s")

    size = checkpoint_bytes(path)
    # Drop nothing from the page cache on purpose: it is not part of the process's RSS either way.
    result = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True,
                            cwd=root, check=False)
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        return 1
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    ratio = figures["peak_rss_bytes"] / size
    print(f"checkpoint   {size / 2**30:8.2f} GiB ({args.preset}, {args.layout} layout)")
    print(f"model        {figures['model_bytes'] / 2**30:8.2f} GiB resident tensors")
    print(f"load time    {figures['load_s']:8.1f} s")
    print(f"peak RSS     {figures['peak_rss_bytes'] / 2**30:8.2f} GiB = {ratio:.3f} x checkpoint "
          f"({'within' if ratio <= 1.15 else 'OVER'} the 1.15 x goal)")
    if args.delete:
        shutil.rmtree(path)
    return 0 if ratio <= 1.15 else 1


if __name__ == "__main__":
    sys.exit(main())
