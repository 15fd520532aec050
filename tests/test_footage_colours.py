"""Colours from the footage: the median over the frames that see each vertex, so an occluder in one frame
does not stain the skin; on the sample clip the job hands the rig the clip's skin tone."""
import numpy as np
import torch

from addon.common.hand_model import find_hand_model
from addon.common.job_options import JobOptions
from addon.common.lbs import lbs
from helpers import ROOT, assert_close
from inference.footage_colours import aggregate, footage_colours, srgb_to_linear, visible_colours
from inference.mesh_render import render
from inference.pipeline import run_job
from inference.video import Footage

SIZE = 160


def to_srgb8(linear: np.ndarray) -> np.ndarray:
    lin = np.clip(linear, 0, 1)
    return np.round(np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055) * 255).astype(np.uint8)


def test_an_occluder_in_one_frame_does_not_stain_the_skin():
    model = find_hand_model("right")
    faces = model.f.astype(np.int64)
    f = 0.5 * SIZE / np.tan(np.radians(20))
    k = np.array([[f, 0, SIZE / 2], [0, f, SIZE / 2], [0, 0, 1.0]])
    rest = model.v_template - model.v_template.mean(0)
    truth = 0.25 + 0.5 * (rest - rest.min(0)) / np.ptp(rest, axis=0)  # a smooth colour field over the hand
    truth = srgb_to_linear(np.round(to_srgb8(truth) / 255.0 * 255) / 255.0)  # what 8-bit footage can hold
    per_frame = []
    for n, turn in enumerate(np.linspace(2.9, 3.3, 5)):  # palm towards the camera, turning a little
        pose = np.zeros((1, 48))
        pose[0, :3] = [turn, 0.2, 0.0]
        verts = lbs(np.zeros((1, 10)), pose, model.v_template, model.shapedirs, model.posedirs, model.J_regressor,
                    model.parents, model.weights, np.array([[0.0, 0.0, 0.4]])).vertices[0]
        rgb, _, raster = render(torch.from_numpy(verts[None]), torch.from_numpy(faces),
                                torch.from_numpy(truth[None]), torch.from_numpy(k), (SIZE, SIZE))
        image = to_srgb8(np.where(raster.mask[0, ..., None].numpy(), rgb[0].numpy(), 0.5))
        if n == 2:
            image[SIZE // 3: 2 * SIZE // 3, SIZE // 3: 2 * SIZE // 3] = (10, 200, 10)  # a green card over the hand
            stained = visible_colours(image, verts, faces, k)
        per_frame.append(visible_colours(image, verts, faces, k))
    result = aggregate(per_frame, faces)
    seen = result.seen >= 3
    assert seen.mean() > 0.2 and result.frames == 5  # the side facing the camera, hit by pixel centres
    error = np.abs(result.colours[seen] - truth[seen]).max(1)
    assert np.percentile(error, 95) < 0.02, np.percentile(error, 95)
    green = stained[1] & (stained[0][:, 1] > 0.5) & (stained[0][:, 0] < 0.05) & seen
    assert green.sum() > 30  # the occluded frame alone saw the card on those vertices (seen in 3+ frames) ...
    assert (np.abs(result.colours[green] - truth[green]).max(1) < 0.05).mean() > 0.95  # ... the median did not
    assert np.isfinite(result.colours).all() and (result.colours > 0).all()  # unseen vertices filled


def test_the_job_gives_the_rig_the_footage_skin_tone(tmp_path):
    options = JobOptions(hands=["right"], frame_end=23, skin="footage")
    logs = []
    result = run_job(str(ROOT / "samples" / "sample_clip.mp4"), options, tmp_path,
                     lambda kind, fields: logs.append(fields.get("message", "")))
    from addon.common.motion_sequence import load_motion_sequence

    seq = load_motion_sequence(result.paths["right"])
    assert seq.vertex_colors is not None and seq.vertex_colors.shape == (778, 3)
    # the reference: the same sampling with the clip's true hand, which lies exactly on the footage's
    truth = load_motion_sequence(ROOT / "samples" / "sample_clip_truth.npz")
    reference = footage_colours(Footage(str(ROOT / "samples" / "sample_clip.mp4")).frames(), truth,
                                find_hand_model("right"))
    seen = reference.seen > 2
    assert_close(np.median(seq.vertex_colors[seen], axis=0), np.median(reference.colours[seen], axis=0), atol=0.04)
    assert np.abs(seq.vertex_colors[seen] - reference.colours[seen]).mean() < 0.08
    assert any("colours come from" in m for m in logs) and result.seconds["colours"] > 0


def test_network_colours_count_a_vertex_only_in_frames_where_the_network_saw_it():
    from inference.footage_colours import NetworkColours

    faces = find_hand_model("right").f.astype(np.int64)
    skin = np.tile([0.8, 0.6, 0.5], (778, 1))
    colours = NetworkColours(faces, total_frames=5)
    hidden = np.zeros(778, bool)
    hidden[:100] = True
    for n in range(5):
        frame = skin.copy()
        visible = np.ones(778, bool)
        if n in (1, 3):  # an occluder's colour on the first 100 vertices, which the network marks unseen
            frame[hidden] = (0.1, 0.9, 0.1)
            visible[hidden] = False
        colours.add(frame, visible)
    result = colours.result()
    assert_close(result.colours, np.tile(srgb_to_linear(skin[0]), (778, 1)), 1e-6, "aggregated network colours")
    assert result.frames == 5 and (result.seen[hidden] == 3).all() and (result.seen[~hidden] == 5).all()


def test_network_colours_keep_an_even_spread_of_a_long_clip():
    from inference.footage_colours import SAMPLE_FRAMES, NetworkColours

    colours = NetworkColours(find_hand_model("right").f, total_frames=1000)
    for _ in range(1000):
        colours.add(np.full((778, 3), 0.5))
    assert SAMPLE_FRAMES // 2 <= len(colours.kept) <= SAMPLE_FRAMES
