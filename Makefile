# Hand Mocap: `make demo` and `make test` are all a new user needs.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BLENDER_EXT = $(shell find $(VENV)/lib -path '*addons_core/bl_pkg/cli/blender_ext.py' 2>/dev/null | head -n 1)

.PHONY: setup test demo extension bench fuzz assets checkpoint checkpoint-mixed video-data checkpoint-deformer checkpoint-seqhand mixed-data checkpoint-s2hand checkpoint-amvur keypoint-data checkpoint-keypoints keypoint-packs keypoint-packs-close checkpoint-keypoints-gpu clean

setup: $(STAMP)

# Re-installs only when the pinned requirements change.
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11: the bpy wheel is built for it)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

# Tests on up to four cores; a module's tests stay on one worker, so its shared fixtures run once.
test: setup
	$(PY) -m pytest -q -n auto --maxprocesses=4 --dist loadscope

# 10,000 generated files per reader of outside data; a table of outcomes (docs/reliability.md), about 10 minutes.
fuzz: setup
	$(PY) tests/fuzz_readers.py --cases 10000

demo: setup
	$(PY) scripts/demo.py

extension: setup
	$(PY) scripts/build_extension.py

bench: setup
	$(PY) -m benchmarks.bm_keyframes
	$(PY) -m benchmarks.bm_synthetic
	$(PY) -m benchmarks.bm_blur
	$(PY) -m benchmarks.bm_inference
	$(PY) -m benchmarks.bm_video_models
	$(PY) -m benchmarks.bm_video
	$(PY) -m benchmarks.bm_memory
	$(PY) -m benchmarks.fault_table

# Regenerate the shipped assets (deterministic: the tests check the shipped copies match).
assets: setup
	$(PY) -m tools.assets.make_open_hand
	$(PY) -m tools.assets.make_sample_sequence
	$(PY) -m tools.assets.make_sample_clip

# Rebuild the base checkpoint (trained from scratch; every tiny model's starting backbone) and its model-card
# numbers (docs/models.md). On a 2-core CPU: rendering about 8.4 + 19.5 + 6.2 minutes, training
# both models side by side about 42 minutes. The default BlurHandNet is its fine-tune: make checkpoint-mixed.
checkpoint: setup
	$(PY) -m scenes.generate --out data/synth_blur/train --sequences 150 --frames 8 --size 128 --blur --blur-method average --subframes 5 --seed 1 --workers 2
	$(PY) -m scenes.generate --out data/synth_blur/train2 --sequences 600 --frames 4 --size 128 --blur --blur-method average --subframes 5 --seed 3 --workers 2
	$(PY) -m scenes.generate --out data/synth_blur/test100 --sequences 100 --frames 8 --size 128 --blur --blur-method average --subframes 5 --seed 2 --workers 2
	OMP_NUM_THREADS=1 $(PY) -m training train --config training/configs/tiny.toml & \
	OMP_NUM_THREADS=1 $(PY) -m training train --config training/configs/tiny_single_frame.toml; wait
	$(PY) -m training eval --ckpt runs/blurhandnet_tiny/model.pt --baseline runs/blurhandnet_tiny_single_frame/model.pt --data data/synth_blur/test100
	mkdir -p inference/checkpoints && cp runs/blurhandnet_tiny/model.pt inference/checkpoints/blurhandnet_tiny.pt

clean:
	rm -rf out build dist .pytest_cache

# Both built-in hands with forearms and one-pass blur (held-out sets of each, and the blur-averaged reference).
mixed-data: setup
	$(PY) -m scenes.generate --out data/synth_blur/test100 --sequences 100 --frames 8 --size 128 --blur --blur-method average --subframes 5 --seed 2 --workers 2
	$(PY) -m scenes.generate --out data/synth_mix/test_makehuman --sequences 100 --frames 8 --size 128 --blur --hand makehuman --forearm --seed 22 --workers 2
	$(PY) -m scenes.generate --out data/synth_mix/test_open --sequences 100 --frames 8 --size 128 --blur --hand open --forearm --seed 21 --workers 2
	$(PY) -m scenes.generate --out data/synth_mix/makehuman --sequences 300 --frames 4 --size 128 --blur --hand makehuman --forearm --seed 13 --workers 2
	$(PY) -m scenes.generate --out data/synth_mix/open --sequences 300 --frames 4 --size 128 --blur --hand open --forearm --seed 14 --workers 2

# The default BlurHandNet checkpoint (docs/models.md): the base fine-tuned on both built-in hands
# with forearms and one-pass blur plus the occluded video renders (tiny_mixed_long, about 60 minutes of
# training on a 2-core AVX2 CPU), and the shorter fine-tunes of the cross-hand test, each scored on held-out
# sets of each hand against the base.
checkpoint-mixed: mixed-data video-data
	for run in mixed open makehuman; do \
	  OMP_NUM_THREADS=2 $(PY) -m training train --config training/configs/tiny_$${run}_finetune.toml --fresh; done
	OMP_NUM_THREADS=2 $(PY) -m training train --config training/configs/tiny_mixed_long.toml --fresh
	for run in mixed open_only makehuman_only mixed_long; do for set in synth_mix/test_makehuman synth_mix/test_open synth_blur/test100; do \
	  $(PY) -m training eval --ckpt runs/blurhandnet_tiny_$$run/model.pt --baseline inference/checkpoints/blurhandnet_tiny.pt --data data/$$set; done; done
	cp runs/blurhandnet_tiny_mixed_long/model.pt inference/checkpoints/blurhandnet_tiny_mixed.pt

# The video models' data (docs/models.md): occluded, blurred 10-frame SeqHAND pose-flow clips of the open
# hand with a forearm; training set and held-out set. On a 2-core CPU about 11 minutes (resumes if cut).
video-data: setup
	$(PY) -m scenes.generate --out data/synth_video/test_occluded --sequences 40 --frames 10 --size 128 --blur --occluders --forearm --hand open --seed 32 --workers 2
	$(PY) -m scenes.generate --out data/synth_video/train --sequences 160 --frames 10 --size 128 --blur --occluders --forearm --hand open --seed 31 --workers 2

# Deformer and its no-fusion ablation, trained side by side (same data, steps and backbone start), then scored
# on the held-out clips with paired bootstrap intervals; the model is copied to inference/checkpoints/.
checkpoint-deformer: video-data
	OMP_NUM_THREADS=1 $(PY) -m training train --config training/configs/deformer_tiny.toml --fresh & \
	OMP_NUM_THREADS=1 $(PY) -m training train --config training/configs/deformer_tiny_no_fusion.toml --fresh; wait
	$(PY) -m training eval --ckpt runs/deformer_tiny/model.pt --baseline runs/deformer_tiny_no_fusion/model.pt --data data/synth_video/test_occluded
	mkdir -p inference/checkpoints && cp runs/deformer_tiny/model.pt inference/checkpoints/deformer_tiny.pt

# SeqHAND and its per-frame ablation (a convolution where the ConvLSTM was), the same way.
checkpoint-seqhand: video-data
	OMP_NUM_THREADS=1 $(PY) -m training train --config training/configs/seqhand_tiny.toml --fresh & \
	OMP_NUM_THREADS=1 $(PY) -m training train --config training/configs/seqhand_tiny_no_convlstm.toml --fresh; wait
	$(PY) -m training eval --ckpt runs/seqhand_tiny/model.pt --baseline runs/seqhand_tiny_no_convlstm/model.pt --data data/synth_video/test_occluded
	mkdir -p inference/checkpoints && cp runs/seqhand_tiny/model.pt inference/checkpoints/seqhand_tiny.pt

# S2HAND(V), self-supervised: MediaPipe's keypoints on the renders (no 3D label), then the model and the same
# network with an added 3D-joint loss side by side, scored with paired bootstrap intervals, then the network
# without its video terms for the shape and texture spread over sequences (docs/models.md).
APPEARANCE_DATA = data/synth_mix/open data/synth_mix/makehuman data/synth_video/train
checkpoint-s2hand: mixed-data video-data
	$(PY) -m training.detected_keypoints --data $(APPEARANCE_DATA)
	OMP_NUM_THREADS=1 $(PY) -m training train --config training/configs/s2hand_tiny.toml --fresh & \
	OMP_NUM_THREADS=1 $(PY) -m training train --config training/configs/s2hand_tiny_3d.toml --fresh; wait
	$(PY) -m training train --config training/configs/s2hand_tiny_single.toml --fresh
	for set in synth_mix/test_open synth_video/test_occluded; do \
	  $(PY) -m training eval --ckpt runs/s2hand_tiny/model.pt --baseline runs/s2hand_tiny_3d/model.pt --data data/$$set; \
	  $(PY) -m training.appearance_card consistency --ckpt runs/s2hand_tiny/model.pt \
	    --baseline runs/s2hand_tiny_single/model.pt --data data/$$set; done
	mkdir -p inference/checkpoints && cp runs/s2hand_tiny/model.pt inference/checkpoints/s2hand_tiny.pt

# AMVUR (prior-net and attention model jointly) against its prior-net alone and the attention model alone, the
# same way, and its variance against its error.
checkpoint-amvur: mixed-data video-data
	OMP_NUM_THREADS=1 $(PY) -m training train --config training/configs/amvur_tiny.toml --fresh & \
	OMP_NUM_THREADS=1 $(PY) -m training train --config training/configs/amvur_tiny_prior.toml --fresh; wait
	$(PY) -m training train --config training/configs/amvur_tiny_amvur.toml --fresh
	for set in synth_mix/test_open synth_video/test_occluded; do \
	  $(PY) -m training eval --ckpt runs/amvur_tiny/model.pt --baseline runs/amvur_tiny_prior/model.pt --data data/$$set; \
	  $(PY) -m training eval --ckpt runs/amvur_tiny/model.pt --baseline runs/amvur_tiny_amvur/model.pt --data data/$$set; \
	  for run in amvur_tiny amvur_tiny_amvur; do \
	    $(PY) -m training.appearance_card uncertainty --ckpt runs/$$run/model.pt --data data/$$set; done; done
	mkdir -p inference/checkpoints && cp runs/amvur_tiny/model.pt inference/checkpoints/amvur_tiny.pt

# The keypoint network's data (docs/models.md): both built-in hands, with and without forearms,
# one-pass blur, backgrounds without the photos that the sample clip and the evaluation clips show
# (tools/evaluation/eval_clips.py), and a held-out set: 4,380 frames. It took 85 minutes on a 2-core CPU that other jobs
# shared (resumes if cut).
EVAL_PHOTOS = coffee,chelsea,brick,astronaut,motorcycle_left,motorcycle_right
keypoint-data: setup
	$(PY) -m scenes.generate --out data/synth_kp/open --sequences 300 --frames 6 --size 128 --blur --hand open --seed 61 --exclude-photos $(EVAL_PHOTOS)
	$(PY) -m scenes.generate --out data/synth_kp/open_forearm --sequences 200 --frames 6 --size 128 --blur --hand open --forearm --occluders --seed 62 --exclude-photos $(EVAL_PHOTOS)
	$(PY) -m scenes.generate --out data/synth_kp/makehuman --sequences 200 --frames 6 --size 128 --blur --hand makehuman --forearm --seed 63 --exclude-photos $(EVAL_PHOTOS)
	$(PY) -m scenes.generate --out data/synth_kp/test --sequences 30 --frames 6 --size 128 --blur --hand open --forearm --seed 64 --exclude-photos $(EVAL_PHOTOS)

# The keypoint network trained on a CPU (its backbone starts from the shipped BlurHandNet's), scored on the
# held-out set: about 50 minutes on 2 cores, and far worse than the GPU run below (docs/models.md), so it stays in
# runs/keypoints_tiny/ and the shipped checkpoint is not replaced.
checkpoint-keypoints: keypoint-data
	OMP_NUM_THREADS=2 $(PY) -m training train --config training/configs/keypoints_tiny.toml --fresh
	$(PY) -m training eval --ckpt runs/keypoints_tiny/model.pt --data data/synth_kp/test

# The keypoint network's GPU run (docs/models.md). Renders 12,600 frames of both hands, most of
# them sharp (the GPU run streaks some itself), a quarter with one-pass blur, without the evaluation clips'
# photos, and a held-out set; packs them into data/packs (training/frame_pack.py: one JPEG per frame, small
# enough to carry to a GPU machine) with the backbone start. Then, on a machine with a GPU:
#   make checkpoint-keypoints-gpu (both GPU runs; the second needs keypoint-packs-close too)
KPG = $(PY) -m scenes.generate --frames 4 --size 128 --quiet --exclude-photos $(EVAL_PHOTOS)
keypoint-packs: setup
	$(KPG) --out data/synth_kpg/test --sequences 40 --hand open --forearm --blur --seed 80 --frames 6
	$(KPG) --out data/synth_kpg/open_bare --sequences 400 --hand open --blur --seed 71
	$(KPG) --out data/synth_kpg/open_forearm_occ --sequences 300 --hand open --forearm --occluders --blur --seed 72
	$(KPG) --out data/synth_kpg/open_wide --sequences 700 --hand open --forearm --fov 65 --seed 75
	$(KPG) --out data/synth_kpg/open_more --sequences 700 --hand open --forearm --fov 50 --seed 77
	$(KPG) --out data/synth_kpg/makehuman --sequences 700 --hand makehuman --forearm --seed 73
	$(KPG) --out data/synth_kpg/makehuman_occ_wide --sequences 250 --hand makehuman --forearm --occluders --blur --fov 65 --seed 74
	$(KPG) --out data/synth_kpg/makehuman_more --sequences 700 --hand makehuman --forearm --fov 50 --seed 76
	$(PY) -m training.frame_pack --out data/packs/train.npz --quality 85 --sharp-share 0.5 --data \
	  data/synth_kpg/open_bare data/synth_kpg/open_forearm_occ data/synth_kpg/open_wide data/synth_kpg/open_more \
	  data/synth_kpg/makehuman data/synth_kpg/makehuman_occ_wide data/synth_kpg/makehuman_more
	$(PY) -m training.frame_pack --out data/packs/val.npz --quality 85 --sharp-share 0.5 --data data/synth_kpg/test
	$(PY) -m training.keypoints_on_device --init inference/checkpoints/blurhandnet_tiny.pt --save-init data/packs/backbone_w32.pt

# The second GPU run's data: the hand rendered larger (192 px renders; the sets above show it 30-52 px across,
# so a 128 px crop enlarges it two to three times), packed as squares of 1.8 times the hand at 144 px, and the
# sets above without the two that show the hand smallest (what fits beside them in one carry). Then, on a
# machine with a GPU: make checkpoint-keypoints-gpu.
KPG192 = $(PY) -m scenes.generate --frames 4 --size 192 --quiet --workers 2 --exclude-photos $(EVAL_PHOTOS)
keypoint-packs-close: keypoint-packs
	$(KPG192) --out data/synth_kpg/open_192 --sequences 600 --hand open --forearm --fov 36 --seed 81
	$(KPG192) --out data/synth_kpg/makehuman_192 --sequences 300 --hand makehuman --forearm --fov 36 --seed 82
	$(KPG192) --out data/synth_kpg/test_192 --sequences 30 --hand open --forearm --fov 36 --seed 83 --frames 6
	$(PY) -m training.frame_pack --out data/packs_close/close.npz --quality 80 --crop 1.8:144 \
	  --data data/synth_kpg/open_192 data/synth_kpg/makehuman_192
	$(PY) -m training.frame_pack --out data/packs_close/earlier.npz --quality 80 --sharp-share 0.5 --data \
	  data/synth_kpg/open_bare data/synth_kpg/open_forearm_occ data/synth_kpg/open_more data/synth_kpg/makehuman \
	  data/synth_kpg/makehuman_more
	$(PY) -m training.frame_pack --out data/packs_close/val.npz --quality 80 --crop 1.8:144 --data data/synth_kpg/test_192

# The shipped keypoint network (inference/checkpoints/keypoints_tiny.pt), on a machine with a CUDA GPU and the
# packs of the two recipes above: 8 minutes from the BlurHandNet backbone (w32/, with w48/ beside it), then 3.5
# minutes of fine-tuning from w32 (close/ and mixed/); mixed/ is the one shipped. GPU_PYTHON is a Python with a
# CUDA build of torch, numpy and opencv-python (what the trainer imports).
GPU_PYTHON ?= python3
checkpoint-keypoints-gpu:
	$(GPU_PYTHON) -c "import torch, sys; torch.cuda.is_available() or sys.exit('checkpoint-keypoints-gpu: no CUDA GPU here')"
	PYTHON=$(GPU_PYTHON) training/keypoints_gpu.sh data/packs runs/keypoints_gpu 8
	PYTHON=$(GPU_PYTHON) training/keypoints_gpu.sh data/packs_close runs/keypoints_gpu_close 3.5 runs/keypoints_gpu/w32/model.pt
	cp runs/keypoints_gpu_close/mixed/model.pt inference/checkpoints/keypoints_tiny.pt
