"""cuDNN grouped conv2 (8 -> 6 channels per model, 5x5 on 12x12; 4,096 models x 64 images, bf16, channels-last) against the same
convolution with its output channels zero-padded to 8 per model (what `cnn.zoo_forward` does on CUDA).

    python bench/conv_pad_probe.py    (CUDA only)

Prints the largest difference of the real channels (0.0 on an H100) and the median milliseconds of forward + backward
(fb6, fb8) and forward only (f6, f8). H100, 2026-11-24: fb6 9.42, fb8 8.44, f6 2.69, f8 1.79.
"""
import torch, torch.nn.functional as F, json, sys
sys.path.insert(0, "bench")
from _cuda_timing import interleaved_median_ms
if not torch.cuda.is_available():  # `make bench` runs every script on the CPU too: say so in the JSON line, exit 0
    print(json.dumps({"skipped": "conv_pad_probe.py measures cuDNN's grouped convolutions: run it on a GPU machine"})); sys.exit(0)
torch.backends.cudnn.benchmark = True
M, B = 4096, 64
dev = "cuda"; fmt = torch.channels_last
x = torch.randn(B, M * 8, 12, 12, device=dev, dtype=torch.bfloat16).contiguous(memory_format=fmt).requires_grad_()
w6 = (torch.randn(M, 6, 8, 5, 5, device=dev) * 0.05).requires_grad_()
b6 = torch.zeros(M, 6, device=dev, requires_grad=True)
def conv(w, b, nout):
    wk = w.reshape(M * nout, 8, 5, 5).to(torch.bfloat16).contiguous(memory_format=fmt)
    return F.conv2d(x, wk, b.reshape(-1).to(torch.bfloat16), groups=M)
def run6():
    y = conv(w6, b6, 6); g = torch.autograd.grad(y.float().square().sum(), [x, w6])
def run8():
    w8 = F.pad(w6, (0, 0, 0, 0, 0, 0, 0, 2)); b8 = F.pad(b6, (0, 2))
    y = conv(w8, b8, 8).view(B, M, 8, 8, 8)[:, :, :6]; g = torch.autograd.grad(y.float().square().sum(), [x, w6])
def fwd6():
    with torch.no_grad(): conv(w6, b6, 6)
def fwd8():
    with torch.no_grad(): conv(F.pad(w6, (0, 0, 0, 0, 0, 0, 0, 2)), F.pad(b6, (0, 2)), 8)
# equality
y6 = conv(w6, b6, 6); y8 = conv(F.pad(w6, (0, 0, 0, 0, 0, 0, 0, 2)), F.pad(b6, (0, 2)), 8).view(B, M, 8, 8, 8)[:, :, :6].reshape(B, M * 6, 8, 8)
print("max diff", float((y6.float() - y8.float()).abs().max()))
res = interleaved_median_ms({"fb6": run6, "fb8": run8, "f6": fwd6, "f8": fwd8}, rounds=5, reps=5)
print(json.dumps(res))
