"""What share of one zoo training step (H100, bf16 autocast, channels-last, 4,096 models x 64 images) is the CNN's
stem (conv1 -> 2x2 max-pool -> activation: the largest maps), forward and backward to its weights, and the image gather;
and the same with the stem as the fused Triton kernel (`kernels.stem`, `train.FUSED_STEM`):

    python bench/zoo_stem_share.py [--models 4096]

The whole step is `train.zoo_logits` + cross-entropy + gradients to every parameter (no optimizer); `stem` is the first
block alone (cuDNN grouped conv + pool + activation), `stem_fused` the kernel. CUDA-event medians of 20 calls. The fused
kernel's output and gradients are checked against the reference at 256 models first (bf16 autocast and float32).
Last stdout line: JSON.
"""
import argparse, json, sys
import torch
import torch.nn.functional as F
from _cuda_timing import cuda_median_ms
from neuralblitz_lab.cnn import get_activation, init_zoo_params, max_pool, zoo_forward
from neuralblitz_lab.kernels.stem import stem_forward, stem_reference
from neuralblitz_lab.zoo import train as T
from neuralblitz_lab.zoo.train import gather_images
ap = argparse.ArgumentParser(); ap.add_argument("--models", type=int, default=4096); ap.add_argument("--quick", action="store_true", help="(make bench)")
a = ap.parse_args()
if not torch.cuda.is_available():  # `make bench` runs every script on the CPU too: say so in the JSON line, exit 0
    print(json.dumps({"skipped": "zoo_stem_share.py measures CUDA time: run it on a GPU machine"})); sys.exit(0)
M, B, dev = a.models, 64, "cuda"
torch.backends.cudnn.benchmark = True
g = torch.Generator(device=dev).manual_seed(0)
images = torch.rand(5000, 1, 28, 28, device=dev, generator=g); labels = torch.randint(0, 10, (5000,), device=dev, generator=g)
idx = torch.randint(0, 5000, (M, B), device=dev, generator=g)
params = init_zoo_params("kaiming_uniform", M, 0, device=dev)
res = {"models": M, "batch": B}
# correctness at 256 models: fused vs reference, output and gradients to w, b (relative max errors)
for dt, name in ((torch.bfloat16, "bf16"), (torch.float32, "fp32")):
    i2 = idx[:256]; w0, b0 = params["conv1.weight"][:256], params["conv1.bias"][:256]
    outs = []
    for fn in (stem_forward, stem_reference):
        w, b = w0.detach().clone().requires_grad_(), b0.detach().clone().requires_grad_()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dt == torch.bfloat16):
            o = fn(images, i2, w, b, "gelu").float()
        gg = torch.autograd.grad((o * torch.cos(torch.arange(o.numel(), device=dev).view(o.shape) * 0.37)).sum(), (w, b))
        outs.append((o, *gg))
    res[f"check_{name}_rel_err"] = [round(((x - y).abs().max() / y.abs().max()).item(), 6) for x, y in zip(*outs)]
    print("check", name, "out, dw, db rel err:", res[f"check_{name}_rel_err"], flush=True)
    if name == "bf16": bf16_outs = outs
# both bf16 versions against the float32 reference (relative Frobenius error): the fused kernel pools float32 sums, the
# reference pools bf16-rounded conv outputs (ties among rounded values send gradients to another window position)
for who, o in (("fused", bf16_outs[0]), ("reference", bf16_outs[1])):
    res[f"bf16_{who}_vs_fp32_ref_rel_fro"] = [round(((x - y).norm() / y.norm()).item(), 6) for x, y in zip(o, outs[1])]
    print("bf16", who, "vs fp32 reference (out, dw, db):", res[f"bf16_{who}_vs_fp32_ref_rel_fro"], flush=True)
for act in ("relu", "gelu"):
    f = get_activation(act)
    def step():
        ps = {k: v.detach().requires_grad_() for k, v in params.items()}
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = T.zoo_logits(ps, images, idx, act).float()
            loss = F.cross_entropy(logits.flatten(0, 1), labels[idx].flatten())
        torch.autograd.grad(loss, list(ps.values()))
    x = gather_images(images, idx)
    def stem():
        w, b = params["conv1.weight"].detach().requires_grad_(), params["conv1.bias"].detach().requires_grad_()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            h = x.transpose(0, 1).reshape(B, M, 28, 28).contiguous(memory_format=torch.channels_last)
            h = f(max_pool(F.conv2d(h, w.reshape(M * 8, 1, 5, 5).contiguous(memory_format=torch.channels_last), b.reshape(-1), groups=M), 2))
        torch.autograd.grad(h, (w, b), torch.ones_like(h))
    def gather(): gather_images(images, idx)
    def stem_fused():
        w, b = params["conv1.weight"].detach().requires_grad_(), params["conv1.bias"].detach().requires_grad_()
        with torch.autocast("cuda", dtype=torch.bfloat16): h = stem_forward(images, idx, w, b, act)
        torch.autograd.grad(h, (w, b), torch.ones_like(h))
    def step_unfused():
        T.FUSED_STEM["on"] = False
        try: step()
        finally: T.FUSED_STEM["on"] = True
    for name, fn in (("step_unfused", step_unfused), ("step", step), ("stem", stem), ("stem_fused", stem_fused), ("gather", gather)):
        res[f"{act}_{name}_ms"] = round(cuda_median_ms(fn, 20, 3), 3)
    res[f"{act}_stem_share"] = round(res[f"{act}_stem_ms"] / res[f"{act}_step_unfused_ms"], 3)
    res[f"{act}_step_speedup"] = round(res[f"{act}_step_unfused_ms"] / res[f"{act}_step_ms"], 3)
    print(act, {k: v for k, v in res.items() if k.startswith(act)}, flush=True)
res.update(gpu=torch.cuda.get_device_name(), torch=torch.__version__)
print(json.dumps(res))
