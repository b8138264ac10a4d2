"""After the merge (issue 24): `python bench/weight_geometry.py --profile small` runs the four parts on the profile's zoo.

(1) weight geometry of the predicted child and its fine-tuned versions against the true union model (raw and aligned
MSE / W1 of weight values, CKA, agreement, loss barrier), (2) KAN / MLP / linear / identity refiners of the child,
(3) unlearning by subtraction, (4) MQPS projection onto an autoencoder manifold of the visible zoo. The child predictor
is the TransformerAE when a checkpoint is registered, else task arithmetic (`--child` overrides; the JSON names it).
Writes bench/results/weight_geometry_<profile>[_<tag>].json with device, commit, command and seconds; the LAST stdout
line is the summary JSON.
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

POST_MERGES = ("average", "task_arithmetic", "ties", "weight_matching", "head_stitching")  # projected as a post-step


def run(profile: str, zoo_dir=None, child=None, seed: int = 0, n_long=-1, quick: bool = False, part1_with_val: bool = False,
        progress: bool = False, parts: str = "all", latent: int | None = None) -> dict:
    "Every part on the profile's zoo: the summary dict (`manifold.experiment_summary`) plus 'seconds' and, with part1_with_val, 'part1_test_val'."
    import torch
    from neuralblitz_lab.core import project_paths
    from neuralblitz_lab.data import load_dataset
    from neuralblitz_lab.merge.benchmark import MERGE_METHODS
    from neuralblitz_lab.merge.geometry import EXPERIMENT_PRESETS, child_method, experiment_data, geometry_experiment
    from neuralblitz_lab.merge.manifold import experiment_summary, manifold_experiment, ratio_block
    from neuralblitz_lab.merge.refine import refine_experiment
    from neuralblitz_lab.merge.unlearn import unlearn_experiment
    from neuralblitz_lab.zoo.store import Zoo
    p = dict(EXPERIMENT_PRESETS[profile])
    if quick: p.update(ks=tuple(k // 10 or 1 for k in p["ks"]), n_long=4, map_steps=p["map_steps"] // 4, ae_epochs=p["ae_epochs"] // 4)
    if n_long != -1: p["n_long"] = n_long
    timings, t0 = {}, time.perf_counter()
    zoo = Zoo(zoo_dir or project_paths().zoos / profile, verify=False)
    data = load_dataset(zoo.config.get("profile", profile), None, int(zoo.config.get("seed", 0)))
    ed = experiment_data(zoo, data, p["n_triplets"], p["eval_per_class"], seed)
    name, _ = child_method(child)
    def timed(key, fn):
        t = time.perf_counter(); out = fn(); timings[key] = round(time.perf_counter() - t, 1); return out
    if latent: p["latent"] = latent
    if parts == "manifold":  # part 4 alone, on the held-out models and the classical merges (no child row)
        from neuralblitz_lab.merge.manifold import manifold_experiment
        bt = ed.batches["test"]
        man = timed("manifold", lambda: manifold_experiment(ed, {m: MERGE_METHODS[m](bt).detach().float() for m in POST_MERGES}, p["latent"],
                                                             p["ae_hidden"], p["ae_epochs"], p["proj_steps"], n_heldout=p["n_heldout"], seed=seed))
        d = man["distortion"]
        return {"profile": profile, "parts": parts, "mqps_memory": man["memory"], "mqps_distortion": round(float(d["distortion"].mean()), 4),
                "mqps_encoder_distance": round(float(d["encoder_distance"].mean()), 4), "mqps_sigma_min_median": round(float(d["sigma_min"].median()), 4),
                "mqps_bound_holds_share": round(float(d["bound_holds"].mean()), 4), "mqps_below_sqrt_rec_share": round(float(d["below_sqrt_rec"].mean()), 4),
                "mqps_repair": man["repair"].round(4).to_dict("records"), "mqps_post_merge": man["merges"].round(4).to_dict("records"),
                "mqps_n_visible": man["n_visible"], "mqps_n_heldout": man["n_heldout"], "seconds": timings}
    if parts == "unlearn":  # part 3 alone (it does not read the child)
        from neuralblitz_lab.merge.unlearn import unlearn_summary
        unl = timed("unlearn", lambda: unlearn_experiment(ed, p["unlearn_k"], steps=p["map_steps"], seed=seed, progress=progress))
        return {"profile": profile, "parts": parts, "n_triplets": len(ed.batches["test"]), "unlearn": unlearn_summary(unl), "unlearn_lam": unl.attrs["lam"],
                "unlearn_k": list(unl.attrs["k"]), "unlearn_tuning": unl.attrs["tuning"], "seconds": timings}
    geo = timed("geometry", lambda: geometry_experiment(ed, name, p["ks"], p["n_long"], p["classical"], seed=seed, progress=progress))
    ref = timed("refine", lambda: refine_experiment(ed, geo, name, steps=p["map_steps"], seed=seed, progress=progress))
    unl = timed("unlearn", lambda: unlearn_experiment(ed, p["unlearn_k"], steps=p["map_steps"], seed=seed, progress=progress))
    bt = ed.batches["test"]
    merges = {"child": geo["nets_all"]["child_k0"], **{m: MERGE_METHODS[m](bt).detach().float() for m in POST_MERGES if m != name}}
    man = timed("manifold", lambda: manifold_experiment(ed, merges, p["latent"], p["ae_hidden"], p["ae_epochs"], p["proj_steps"],
                                                         n_heldout=p["n_heldout"], seed=seed))
    out = {"profile": profile, **experiment_summary(ed, geo, ref, unl, man)}
    if part1_with_val:  # part 1 again on test ∪ val unseen-union triplets (nothing of part 1 learns from val with a classical child)
        ed2 = experiment_data(zoo, data, p["n_triplets"], p["eval_per_class"], seed, test_splits=("test", "val"))
        g2 = timed("geometry_test_val", lambda: geometry_experiment(ed2, name, p["ks"], p["n_long"], p["classical"], seed=seed, progress=progress))
        out["part1_test_val"] = {"n_triplets": len(ed2.batches["test"]), "n_long": len(g2["long_rows"]), "ratios_by_k": ratio_block(g2["ratios"]),
                                 "note": "val triplets are unseen-union too; the classical child learns nothing from them (a TAE child's selection saw them)"}
    timings["total"] = round(time.perf_counter() - t0, 1)
    out["seconds"] = timings
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="small", choices=("tiny", "small", "seed"))
    ap.add_argument("--zoo", default=None, help="zoo folder (default: data/zoos/<profile>)")
    ap.add_argument("--child", default=None, help="child predictor: a registered merge method (default: transformer_ae if registered, else task_arithmetic)")
    ap.add_argument("--n-long", type=int, default=-1, help="test triplets fine-tuned to max(ks) (default: the profile's; 0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=["cpu"], help="the experiment's code runs on CPU tensors (recorded in the JSON)")
    ap.add_argument("--parts", default="all", choices=["all", "unlearn", "manifold"], help="every part, or part 3 or 4 alone")
    ap.add_argument("--latent", type=int, default=None, help="MQPS latent size m (default: the profile's)")
    ap.add_argument("--part1-with-val", action="store_true", help="also run part 1 on test ∪ val unseen-union triplets (the small zoo has < 100 test triplets)")
    ap.add_argument("--quick", action="store_true", help="a tenth of the fine-tuning steps, a quarter of the map and AE training")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tag", default="", help="suffix of the results file name")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    import torch
    if args.threads: torch.set_num_threads(args.threads)
    from neuralblitz_lab.core import git_commit, save_json
    t0 = time.perf_counter()
    out = run(args.profile, args.zoo, args.child, args.seed, None if args.n_long == 0 else args.n_long, args.quick, args.part1_with_val, parts=args.parts, latent=args.latent)
    out.update(wall_seconds=round(time.perf_counter() - t0, 1), load_average_1_5_15=list(os.getloadavg()),
               device=f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)", torch=torch.__version__,
               python=platform.python_version(), commit=git_commit(ROOT),
               command="python bench/weight_geometry.py " + " ".join(sys.argv[1:] if argv is None else argv))
    if not args.no_save:
        save_json(out, ROOT / "bench" / "results" / f"weight_geometry_{args.profile}{'_' + args.tag if args.tag else ''}.json")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
