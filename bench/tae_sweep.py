"""Which training objective makes the small TransformerAE generalize: train each configuration on the small zoo's train
triplets, select on val (the score `train_merge` keeps), then report zero-shot accuracy on the test triplets.

    python bench/tae_sweep.py --device cuda [--only NAME,...] [--budget 500] [--out bench/results/tae_sweep_small.json]

Every configuration names its loss, epochs, images and augmentation explicitly (the `small` profile's other defaults:
batch 64, lr 2e-3, AdamW, cosine). Choose by `best_val_rel` (val triplets, val images); `test_rel` is reported, never
used to choose. Accuracies are on the dataset's test images of each triplet's union classes, relative to the union
model's (`union_test_acc`). One line of JSON per configuration, then the summary as the last stdout line.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch

from neuralblitz_lab.core import git_commit

from neuralblitz_lab.data import load_dataset
from neuralblitz_lab.merge_train import load_merge_model, merged_accuracy, predict, run_merge_training, zoo_triplets
from neuralblitz_lab.zoo import Zoo

WIDE = (("d_model", 128), ("d_ff", 256), ("neck", 256))
CONFIGS = {
    "lwln_e40": dict(epochs=40, loss="lwln_mse=1", n_images=8),
    "lwln_perm_e100": dict(epochs=100, loss="lwln_mse=1", n_images=8, permute_prob=1.0),
    "lwln1_distill1_perm_e100": dict(epochs=100, loss="lwln_mse=1,distill=1", n_images=32, permute_prob=1.0),
    "lwln1_distill1_e100": dict(epochs=100, loss="lwln_mse=1,distill=1", n_images=32),
    "lwln1_distill1_img128_e50": dict(epochs=50, loss="lwln_mse=1,distill=1", n_images=128),
    "lwln1_distill3_img64_e50": dict(epochs=50, loss="lwln_mse=1,distill=3", n_images=64),
    "wide_lwln1_distill1_img64_e50": dict(epochs=50, loss="lwln_mse=1,distill=1", n_images=64, model_overrides=WIDE),
    "lwln0.1_distill1_img64_e50": dict(epochs=50, loss="lwln_mse=0.1,distill=1", n_images=64),
    "lwln0.01_distill1_img64_e50": dict(epochs=50, loss="lwln_mse=0.01,distill=1", n_images=64),
    "distill1_img64_e50": dict(epochs=50, loss="lwln_mse=0,distill=1", n_images=64),
    "lwln0.03_distill1_img64_e80": dict(epochs=80, loss="lwln_mse=0.03,distill=1", n_images=64),
    "lwln0.03_distill1_img128_e120": dict(epochs=120, loss="lwln_mse=0.03,distill=1", n_images=128),
    "lwln0.03_distill1_img256_e160": dict(epochs=160, loss="lwln_mse=0.03,distill=1", n_images=256),
    "wide_lwln0.03_distill1_img128_e120": dict(epochs=120, loss="lwln_mse=0.03,distill=1", n_images=128, model_overrides=WIDE),
    "lwln0.03_distill1_img128_e120_lr1e-3": dict(epochs=120, loss="lwln_mse=0.03,distill=1", n_images=128, lr=1e-3),
    "lwln0.03_distill2_img128_e120": dict(epochs=120, loss="lwln_mse=0.03,distill=2", n_images=128),
    # attention ablation at a CPU budget: the report's softmax attention vs geometric attention (kernels.gak), same objective
    "attn_sdpa_img32_e15": dict(epochs=15, loss="lwln_mse=0.03,distill=1", n_images=32, model_overrides=WIDE),
    "attn_gak_metric_inv_p_img32_e15": dict(epochs=15, loss="lwln_mse=0.03,distill=1", n_images=32, model_overrides=WIDE + (("attention", "gak"),)),
    "attn_sdpa_img32_e15_seed1": dict(epochs=15, loss="lwln_mse=0.03,distill=1", n_images=32, model_overrides=WIDE, seed=1),
    "attn_gak_metric_inv_p_img32_e15_seed1": dict(epochs=15, loss="lwln_mse=0.03,distill=1", n_images=32, model_overrides=WIDE + (("attention", "gak"),), seed=1),
    "attn_gak_img32_e15": dict(epochs=15, loss="lwln_mse=0.03,distill=1", n_images=32, model_overrides=WIDE + (("attention", "gak"),)),
}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda"); p.add_argument("--zoo", type=Path, default=Path("data/zoos/small"))
    p.add_argument("--only", default=",".join(CONFIGS)); p.add_argument("--budget", type=float, default=1e9, help="seconds; later configurations are skipped")
    p.add_argument("--work", type=Path, default=Path("/tmp/tae_sweep")); p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    unknown = set(a.only.split(",")) - set(CONFIGS)
    if unknown: p.error(f"unknown configuration(s) {sorted(unknown)}; choose from {sorted(CONFIGS)}")
    zoo = Zoo(a.zoo, verify=False)
    data = load_dataset("small", None, int(zoo.config.get("seed", 0)))
    test = zoo_triplets(zoo, "test")
    union = merged_accuracy(test.wt, test.meta, data, "test", a.device)
    res = {"device": torch.cuda.get_device_name() if a.device == "cuda" else a.device, "torch": torch.__version__,
           "commit": git_commit(), "command": "python bench/tae_sweep.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "union_test_acc": union.mean().item(), "n_test_triplets": len(test.meta), "configs": {}}
    t_start = time.time()
    for name in a.only.split(","):
        if time.time() - t_start > a.budget: res["configs"][name] = "skipped: over --budget"; continue
        t0 = time.time()
        r = run_merge_training("small", a.zoo, a.work / name, resume=False, progress=False, device=a.device, wandb_mode="disabled",
                               val_every=5, **CONFIGS[name])
        model, norm, _ = load_merge_model(r["checkpoint"], a.device)
        acc = merged_accuracy(predict(model, norm, test.w1.to(a.device), test.w2.to(a.device)), test.meta, data, "test", a.device)
        res["configs"][name] = {"config": {k: v for k, v in CONFIGS[name].items()}, "seconds": round(time.time() - t0, 1),
                                "best_val_rel": r["best"], "test_acc": acc.mean().item(), "test_rel": (acc.mean() / union.mean()).item(),
                                "val_curve": [(h["epoch"], round(h["val/rel_acc"], 4)) for h in r["history"] if "val/rel_acc" in h]}
        print(name, json.dumps(res["configs"][name]), flush=True)
    ok = {k: v for k, v in res["configs"].items() if isinstance(v, dict)}
    res["best_by_val"] = max(ok, key=lambda k: ok[k]["best_val_rel"]) if ok else None
    if a.out: a.out.parent.mkdir(parents=True, exist_ok=True); a.out.write_text(json.dumps(res, indent=1))
    print(json.dumps({"best_by_val": res["best_by_val"], **{k: {kk: v[kk] for kk in ("best_val_rel", "test_rel", "seconds")} for k, v in ok.items()}}))
    return res


if __name__ == "__main__":
    main()
