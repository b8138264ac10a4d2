set -o pipefail
export PYTHONPATH=$PWD:$PWD/bench/device/stub PYTHONUNBUFFERED=1
T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 bench/device/mkdata.py || exit 3
python3 -c "import numba, pandas, pyarrow, tqdm, safetensors, triton; print('env ok', numba.__version__, pandas.__version__, pyarrow.__version__, triton.__version__)" || exit 2
timeout 250 python3 bench/full_zoo_build.py --device cuda --phases --prefix graphs --previous bench/results/full_zoo_build_h100.json --json $OUT/full_zoo_build_h100.json > $OUT/full.log 2>&1; echo "build rc=$? t=$(( $(date +%s)-T0 ))"
grep -v INFO $OUT/full.log | grep -v '^{' | tail -4; tail -1 $OUT/full.log | cut -c1-700
L=$(( 330 - ($(date +%s)-T0) )); echo "left $L"
[ $L -gt 20 ] && timeout $(( L < 50 ? L : 50 )) python3 -m pytest -q -rs tests/test_kernels_stem.py -k cuda 2>&1 | tee $OUT/tests.log | tail -4
L=$(( 330 - ($(date +%s)-T0) )); echo "left $L"
[ $L -gt 25 ] && timeout $L python3 bench/zoo_throughput.py --device cuda --models 4096 --epochs 2 --seq-models 16 --warmup --json $OUT/zoo_throughput_cuda_4096.json 2>&1 | tail -1 | cut -c1-900
echo "t=$(( $(date +%s)-T0 ))"
