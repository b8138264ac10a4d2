import os
DATA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "mnist_5k.csv")
