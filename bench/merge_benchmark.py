"""The merging benchmark end to end: `python bench/merge_benchmark.py --profile small` (2-core CPU, <= 5 minutes target).

Runs `merge_eval.run_benchmark` on the profile's zoo (every test triplet at k = 0, a seeded fine-tuning sample), writes the
full outputs to data/merge_eval/<profile>/ and the summary with device, versions, commit, wall time and load average to
bench/results/merge_benchmark_<profile>.json. The LAST stdout line is the summary JSON. Extra methods plug in with
`--method-module MODULE` (importing it must call `merge_eval.register_method`).
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="small")
    p.add_argument("--zoo", default=None, help="zoo folder (default: data/zoos/<profile>)")
    p.add_argument("--n-finetune", type=int, default=None, help="fine-tuned test triplets per activation (default: 2 on small; 0: all)")
    p.add_argument("--method-module", action="append", default=[], metavar="MODULE")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--out", default=None, help="outputs folder (default: data/merge_eval/<profile>)")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/merge_benchmark_<profile>.json")
    args = p.parse_args(argv)
    import torch
    if args.threads: torch.set_num_threads(args.threads)
    from neuralblitz_lab.core import git_commit, save_json
    from neuralblitz_lab.merge.benchmark import run_benchmark
    t0 = time.perf_counter()
    summary, files = run_benchmark(args.profile, args.zoo, args.out, None, args.seed,
                                   -1 if args.n_finetune is None else args.n_finetune, args.method_module, progress=False)
    wall = round(time.perf_counter() - t0, 1)
    record = {**summary, "wall_seconds": wall, "load_average_1_5_15": list(os.getloadavg()),
              "device": f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)", "torch": torch.__version__,
              "python": platform.python_version(), "commit": git_commit(ROOT),
              "command": "python bench/merge_benchmark.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "outputs": {k: str(v) for k, v in files.items()}}
    if not args.no_save: save_json(record, ROOT / "bench" / "results" / f"merge_benchmark_{args.profile}.json")
    print(f"wall {wall} s; outputs in {files['table'].parent}", file=sys.stderr)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
