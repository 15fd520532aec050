#!/usr/bin/env bash
# The keypoint network's GPU runs (docs/models.md: the keypoint network): two runs side by side on one GPU, each with
# its training packs in device memory (training/keypoints_on_device.py).
#
#   training/keypoints_gpu.sh PACKS OUT MINUTES            # first run
#   training/keypoints_gpu.sh PACKS OUT MINUTES START.pt   # fine-tuning run
#   training/keypoints_gpu.sh PACKS OUT MINUTES START.pt CLOSE_PACKS   # footage run
#
# First run: PACKS holds train.npz, val.npz and backbone_w32.pt (`make keypoint-packs`); OUT gets w32/ (ResNet-18
# at width 32 from the shipped BlurHandNet's backbone) and w48/ (width 48, no trained backbone of its width to
# start from). Fine-tuning run: PACKS holds close.npz, earlier.npz and val.npz (`make keypoint-packs-close`);
# both runs start from every weight of START.pt, one on close.npz alone (close/), one on close.npz and
# earlier.npz (mixed/). Footage run: PACKS holds footage.npz and val.npz (Workbench clips rendered like the
# sample clip, their held-out clips; `make keypoint-packs-footage`), CLOSE_PACKS close.npz and earlier.npz; both
# runs start from START.pt and are scored on the held-out clips: one trains on the footage and close.npz
# (footage/), one on the footage three times over, close.npz and earlier.npz (footage_mixed/).
# Each run folder gets model.pt, best.pt and log.csv.
set -euo pipefail
packs=$1 out=$2 minutes=$3 start=${4:-} close=${5:-}
python=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
run() {
  local name=$1; shift
  "$python" -m training.keypoints_on_device --val "$packs/val.npz" --minutes "$minutes" --out "$out/$name" \
    --checkpoint-seconds 30 "$@" 2>&1 | sed -u "s/^/[$name] /"
}
if [ -z "$start" ]; then
  first=(w32 --pack "$packs/train.npz" --width 32 --decoder 64 --init "$packs/backbone_w32.pt")
  second=(w48 --pack "$packs/train.npz" --width 48 --decoder 96)
elif [ -n "$close" ]; then
  first=(footage --pack "$packs/footage.npz" "$close/close.npz" --start "$start" --lr 1e-3)
  second=(footage_mixed --pack "$packs/footage.npz" "$packs/footage.npz" "$packs/footage.npz" "$close/close.npz"
          "$close/earlier.npz" --start "$start" --lr 1e-3)
else
  first=(close --pack "$packs/close.npz" --start "$start" --lr 1e-3)
  second=(mixed --pack "$packs/close.npz" "$packs/earlier.npz" --start "$start" --lr 1e-3)
fi
run "${first[@]}" &
pid=$!
status=0
run "${second[@]}" || status=$?
wait "$pid" || status=$?  # one run's failure does not end the other's
exit "$status"
