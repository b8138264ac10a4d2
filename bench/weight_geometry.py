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


def run(profile: str, zoo_dir=None, child=None, seed: int = 0, n_long=-1, device: str = "cpu", quick: bool = False, progress=False) -> dict:
    "Every part on the profile's zoo; the summary dict (the JSON's keys) and the tables under key '_tables'."
    import numpy as np
    import torch
    from neuralblitz_lab.core import project_paths
    from neuralblitz_lab.data import load_dataset
    from neuralblitz_lab.merge.benchmark import MERGE_METHODS
    from neuralblitz_lab.merge.geometry import EXPERIMENT_PRESETS, child_method, experiment_data, geometry_experiment
    from neuralblitz_lab.merge.manifold import manifold_experiment
    from neuralblitz_lab.merge.refine import refine_experiment, refine_summary
    from neuralblitz_lab.merge.unlearn import unlearn_experiment, unlearn_summary
    from neuralblitz_lab.zoo.store import Zoo
    p = dict(EXPERIMENT_PRESETS[profile])
    if quick: p.update(ks=tuple(k // 10 or 1 for k in p["ks"]), n_long=4, map_steps=p["map_steps"] // 4, ae_epochs=p["ae_epochs"] // 4)
    if n_long != -1: p["n_long"] = n_long
    timings, t0 = {}, time.perf_counter()
    zoo = Zoo(zoo_dir or project_paths().zoos / profile, verify=False)
    data = load_dataset(zoo.config.get("profile", profile), None, int(zoo.config.get("seed", 0)))
    ed = experiment_data(zoo, data, p["n_triplets"], p["eval_per_class"], seed)
    name, _ = child_method(child)
    timings["setup"] = time.perf_counter() - t0; t = time.perf_counter()
    geo = geometry_experiment(ed, name, p["ks"], p["n_long"], p["classical"], seed=seed, progress=progress)
    timings["geometry"] = time.perf_counter() - t; t = time.perf_counter()
    ref = refine_experiment(ed, geo, name, steps=p["map_steps"], seed=seed, progress=progress)
    timings["refine"] = time.perf_counter() - t; t = time.perf_counter()
    unl = unlearn_experiment(ed, p["unlearn_k"], steps=p["map_steps"], seed=seed, progress=progress)
    timings["unlearn"] = time.perf_counter() - t; t = time.perf_counter()
    bt = ed.batches["test"]
    merges = {"child": geo["nets_all"]["child_k0"], **{m: MERGE_METHODS[m](bt).detach().float() for m in POST_MERGES if m != name}}
    man = manifold_experiment(ed, merges, p["latent"], p["ae_hidden"], p["ae_epochs"], p["proj_steps"], n_heldout=p["n_heldout"], seed=seed)
    timings["manifold"] = time.perf_counter() - t
    r, rs, us = geo["ratios"], refine_summary(ref), unlearn_summary(unl)
    k_head = 200 if 200 in p["ks"] else p["ks"][1]  # the report's "200-500 steps"
    head = r[(r["subset"] == ("long" if k_head != p["ks"][0] else "all")) & (r["k"] == k_head)].iloc[0]
    by_k = {s: {int(row.k): {m: round(float(getattr(row, f"{m}_ratio")), 4) for m in ("mse", "wd", "mse_aligned", "wd_aligned")}
                | {"share_mse_up": round(float(row.mse_share_up), 3), "share_wd_down": round(1 - float(row.wd_share_up), 3), "n": int(row.n_rows)}
                for row in r[r["subset"] == s].itertuples()} for s in ("all", "long")}
    W, Fn = geo["weights"], geo["functional"]
    allw = W[(W["layer"] == "all") & (W["subset"] == "all")]
    align_removed = float(1 - allw["mse_aligned"].mean() / allw["mse"].mean())
    func = Fn.groupby(["subset", "net"])[["cka", "agreement", "acc", "barrier"]].mean().round(4).reset_index().to_dict("records")
    dist = man["distortion"]
    rep = man["repair"]; mid = rep.iloc[len(rep) // 2]
    post = man["merges"].pivot_table(index="method", columns="when", values=["acc", "fidelity"])
    out = {
        "profile": profile, "child": name, "smoke": ed.smoke, "split_mode": ed.mode, "n_triplets": len(bt),
        "n_train_triplets": len(ed.batches["train"]), "n_val_triplets": len(ed.batches["val"]), "n_long": len(geo["long_rows"]),
        "ks": list(p["ks"]), "headline_k": k_head, "eval_images": len(ed.images),
        "mse_ratio_after_ft": round(float(head["mse_ratio"]), 4), "wd_ratio_after_ft": round(float(head["wd_ratio"]), 4),
        "mse_ratio_after_ft_aligned": round(float(head["mse_aligned_ratio"]), 4), "wd_ratio_after_ft_aligned": round(float(head["wd_aligned_ratio"]), 4),
        "ratios_by_k": by_k, "alignment_removes_mse_k0": round(align_removed, 4), "functional": func,
        "kan_k0_rel": rs["kan"]["k0_rel"], "kan_k0_fidelity": rs["kan"]["fidelity"], "mlp_k0_rel": rs["mlp"]["k0_rel"],
        "mlp_k0_fidelity": rs["mlp"]["fidelity"], "child_k0_rel": rs["identity"]["k0_rel"], "child_k0_fidelity": rs["identity"]["fidelity"],
        "refine": rs, "refine_k": ref.attrs["k"],
        "unlearn": {m: {k: v for k, v in d.items()} for m, d in us.items()}, "unlearn_lam": unl.attrs["lam"], "unlearn_k": unl.attrs["k"],
        "mqps_distortion": round(float(dist["distortion"].mean()), 4), "mqps_encoder_distance": round(float(dist["encoder_distance"].mean()), 4),
        "mqps_sigma_min_median": round(float(dist["sigma_min"].median()), 4), "mqps_bound_holds_share": round(float(dist["bound_holds"].mean()), 4),
        "mqps_below_sqrt_rec_share": round(float(dist["below_sqrt_rec"].mean()), 4), "mqps_memory": man["memory"],
        "mqps_repair_gain": round(float(mid["gain"]), 4), "mqps_repair_scale": float(mid["scale"]),
        "mqps_repair": rep.round(4).to_dict("records"),
        "mqps_post_merge": {m: {f"{a}_{w}": round(float(post.loc[m, (a, w)]), 4) for a in ("acc", "fidelity") for w in ("before", "after")} for m in post.index},
        "mqps_n_visible": man["n_visible"], "mqps_n_heldout": man["n_heldout"],
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }
    out["_tables"] = {"geo": geo, "refine": ref, "unlearn": unl, "manifold": man, "ed": ed}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="small", choices=("tiny", "small", "seed"))
    ap.add_argument("--zoo", default=None, help="zoo folder (default: data/zoos/<profile>)")
    ap.add_argument("--child", default=None, help="child predictor: a registered merge method (default: transformer_ae if registered, else task_arithmetic)")
    ap.add_argument("--n-long", type=int, default=-1, help="test triplets fine-tuned to max(ks) (default: the profile's; 0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu (the experiment's code runs on CPU tensors; recorded in the JSON)")
    ap.add_argument("--quick", action="store_true", help="a tenth of the fine-tuning steps, a quarter of the map and AE training")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tag", default="", help="suffix of the results file name")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    import torch
    if args.threads: torch.set_num_threads(args.threads)
    from neuralblitz_lab.core import git_commit, save_json
    t0 = time.perf_counter()
    out = run(args.profile, args.zoo, args.child, args.seed, None if args.n_long == 0 else args.n_long, args.device, args.quick)
    out.pop("_tables")
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
