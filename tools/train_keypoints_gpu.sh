#!/usr/bin/env bash
# The keypoint network's GPU run (README: Keypoints for the fit): two widths side by side on one GPU, each
# with the whole training pack in device memory (training/keypoints_on_device.py).
#
#   tools/train_keypoints_gpu.sh PACKS OUT MINUTES
#
# PACKS holds train.npz, val.npz and backbone_w32.pt (`make keypoint-packs` writes them); OUT gets w32/ and
# w48/ (model.pt, best.pt, log.csv). The ResNet-18 at width 32 starts from the shipped BlurHandNet's
# backbone; the one at width 48 has no trained backbone of its width to start from, so it starts fresh.
set -euo pipefail
packs=$1 out=$2 minutes=$3
python=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
run() {
  local name=$1; shift
  "$python" -m training.keypoints_on_device --pack "$packs/train.npz" --val "$packs/val.npz" \
    --minutes "$minutes" --out "$out/$name" "$@" 2>&1 | sed -u "s/^/[$name] /"
}
run w32 --width 32 --decoder 64 --init "$packs/backbone_w32.pt" &
first=$!
status=0
run w48 --width 48 --decoder 96 || status=$?
wait "$first" || status=$?  # one run's failure does not end the other's
exit "$status"
