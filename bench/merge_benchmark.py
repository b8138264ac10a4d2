"""The merging benchmark end to end: `python bench/merge_benchmark.py --profile small` (2-core CPU).

Runs `merge.benchmark.run_benchmark` on the profile's zoo (every test triplet at k = 0, a seeded fine-tuning sample) on
the honest split by default (`--split-mode unseen_union`: a test triplet's union is a held-out class set, and nothing
that learns or looks up sees its model; `parents` is the zoo's stored split). The profile's trained TransformerAE
(data/merge_models/<profile>/transformer_ae.safetensors, or `--tae-checkpoint`) is evaluated as `transformer_ae` when
present. Full outputs go to data/merge_eval/<profile>_<mode>/, the summary with device, versions, commit, wall time and
load average to bench/results/merge_benchmark_<profile>_<mode>.json. The LAST stdout line is the summary JSON. Extra
methods plug in with `--method-module MODULE` (importing it must call `merge.benchmark.register_method`).
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
    p.add_argument("--split-mode", default="unseen_union", choices=["unseen_union", "parents"])
    p.add_argument("--tae-checkpoint", default=None, help="TransformerAE checkpoint (default: the profile's, when present; 'none': leave it out)")
    p.add_argument("--n-finetune", type=int, default=None, help="fine-tuned test triplets per activation (default: 2 on small; 0: all)")
    p.add_argument("--ks", type=int, nargs="+", default=[0, 50, 200, 500], help="fine-tuning steps reported")
    p.add_argument("--method-module", action="append", default=[], metavar="MODULE")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="one fine-tuned triplet per activation, k in {0, 50, 200}, no result file")
    p.add_argument("--device", default="cpu", help="recorded only: the benchmark's merges, forwards and fine-tuning run on the CPU")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--out", default=None, help="outputs folder (default: data/merge_eval/<profile>_<mode>)")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/merge_benchmark_<profile>_<mode>.json")
    args = p.parse_args(argv)
    if args.quick: args.n_finetune, args.ks, args.no_save = 1, [0, 50, 200], True
    import torch
    if args.threads: torch.set_num_threads(args.threads)
    from neuralblitz_lab.core import git_commit, project_paths, save_json
    from neuralblitz_lab.merge.benchmark import run_benchmark
    out = args.out or project_paths().data / "merge_eval" / f"{args.profile}_{args.split_mode}"
    t0 = time.perf_counter()
    summary, files = run_benchmark(args.profile, args.zoo, out, None, args.seed, -1 if args.n_finetune is None else args.n_finetune,
                                   args.method_module, progress=False, ks=args.ks, mode=args.split_mode, tae_checkpoint=args.tae_checkpoint)
    wall = round(time.perf_counter() - t0, 1)
    record = {**summary, "wall_seconds": wall, "load_average_1_5_15": list(os.getloadavg()),
              "device": f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)", "torch": torch.__version__,
              "python": platform.python_version(), "commit": git_commit(ROOT),
              "command": "python bench/merge_benchmark.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "outputs": {k: str(v) for k, v in files.items()}}
    if not args.no_save: save_json(record, ROOT / "bench" / "results" / f"merge_benchmark_{args.profile}_{args.split_mode}.json")
    print(f"wall {wall} s; outputs in {files['table'].parent}", file=sys.stderr)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
