"""The differentiable renderer: agrees with Blender on the same hand, camera and vertex colours; its
barycentrics are perspective-correct; its gradients match finite differences."""
import numpy as np
import pytest
import torch

from addon.common.hand_model import find_hand_model
from helpers import assert_close
from inference.handmodel import ManoLayer
from inference.mesh_render import face_normals, project, rasterize, render, shade, soft_silhouette

SIZE = 96


def posed_hand(dtype=torch.float32):
    """The open hand, palm half-turned to the camera, fingers bent, 0.35 m away; OpenCV camera axes."""
    model = find_hand_model("right")
    layer = ManoLayer(model, dtype=dtype)
    pose = torch.zeros(1, 45, dtype=dtype)
    pose[0, 5] = pose[0, 14] = 0.6  # index and middle flexed at their base
    orient = torch.tensor([[2.2, 0.4, -0.3]], dtype=dtype)
    transl = torch.tensor([[0.01, -0.01, 0.35]], dtype=dtype) - layer(orient, pose).joints[:, 0]
    return model, orient, pose, transl, layer(orient, pose, transl=transl).vertices


def intrinsics(fov_deg=40.0, size=SIZE, dtype=torch.float32):
    f = 0.5 * size / np.tan(np.radians(fov_deg) / 2)
    return torch.tensor([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]], dtype=dtype)


def smooth_colours(vertices: torch.Tensor) -> torch.Tensor:
    """Colours that vary smoothly over the hand (so interpolation, not rounding, is what is compared)."""
    v = vertices[0] - vertices[0].mean(0)
    return (0.5 + 0.45 * torch.tanh(v / v.abs().max(0).values))[None].clamp(0.05, 0.95)


def test_blender_renders_the_same_silhouette_and_colours(blank_blend):
    from addon.blender.importer import add_footage_camera
    from addon.blender.rig import build_hand_rig
    from scenes.renderer import HandRenderer, RenderSettings

    model, orient, pose, transl, vertices = posed_hand()
    colours = smooth_colours(vertices)
    renderer = HandRenderer(RenderSettings(size=SIZE, engine="workbench", fov_deg=40.0))
    scene = renderer.scene
    scene.display.shading.light = "FLAT"
    scene.display.shading.color_type = "VERTEX"
    scene.display.render_aa = "OFF"
    rig = build_hand_rig(model, np.zeros(10), name="hand", vertex_colors=colours[0].numpy().astype(np.float64))
    add_footage_camera(rig, renderer.settings.intrinsics, np.array([SIZE, SIZE]), scene.collection)
    full = np.concatenate([orient[0].numpy(), pose[0].numpy()]).astype(np.float64)
    renderer.pose(rig, full, transl[0].numpy().astype(np.float64))
    blender = renderer.render()  # (H, W, 4) linear, premultiplied
    ours, alpha, raster = render(vertices, torch.as_tensor(model.f.astype(np.int64)), colours,
                                 intrinsics(dtype=torch.float32), (SIZE, SIZE))
    theirs_mask = blender[..., 3] > 0.5
    mask = raster.mask[0].numpy()
    iou = (mask & theirs_mask).sum() / (mask | theirs_mask).sum()
    assert iou >= 0.98, iou
    soft_iou = ((alpha[0].numpy() > 0.5) & theirs_mask).sum() / ((alpha[0].numpy() > 0.5) | theirs_mask).sum()
    assert soft_iou >= 0.97, soft_iou
    inner = mask & theirs_mask
    inner[1:-1, 1:-1] &= mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]  # off the edges
    diff = np.abs(blender[..., :3][inner] / blender[..., 3:][inner] - ours[0].numpy()[inner])
    assert diff.mean() < 0.01 and np.percentile(diff, 99) < 0.05, (diff.mean(), np.percentile(diff, 99))


def test_barycentrics_are_perspective_correct():
    model, _, _, _, vertices = posed_hand(torch.float64)
    faces = torch.as_tensor(model.f.astype(np.int64))
    K = intrinsics(dtype=torch.float64)
    raster = rasterize(vertices, faces, K, (SIZE, SIZE))
    hit = raster.mask[0]
    corners = vertices[0][faces[raster.face[0][hit]]]  # (P, 3, 3)
    point = (raster.bary[0][hit][..., None] * corners).sum(1)  # the 3D point each pixel sees
    rows, cols = np.nonzero(hit.numpy())
    assert_close(project(point[None], K)[0, :, :2], np.stack([cols + 0.5, rows + 0.5], -1), atol=1e-6)
    assert_close(raster.depth[0][hit], point[:, 2], atol=1e-9)
    assert hit.sum() > 500


def test_the_front_face_wins():
    # two parallel squares, the near one smaller: where both cover a pixel, the near one is seen
    near = torch.tensor([[-0.02, -0.02, 0.3], [0.02, -0.02, 0.3], [0.02, 0.02, 0.3], [-0.02, 0.02, 0.3]])
    far = near * torch.tensor([3.0, 3.0, 1.0]) + torch.tensor([0.0, 0.0, 0.2])
    vertices = torch.cat([near, far])[None]
    faces = torch.tensor([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    raster = rasterize(vertices, faces, intrinsics(), (SIZE, SIZE))
    centre = raster.face[0, SIZE // 2, SIZE // 2].item()
    assert centre in (0, 1) and raster.depth[0, SIZE // 2, SIZE // 2] == pytest.approx(0.3, abs=1e-6)
    assert raster.face[0, SIZE // 2, SIZE // 2 + 12].item() in (2, 3)  # beside the near square: the far one


def test_gradients_match_finite_differences():
    model, _, _, _, vertices = posed_hand(torch.float64)
    faces = torch.as_tensor(model.f.astype(np.int64))
    K = intrinsics(dtype=torch.float64)
    colours = smooth_colours(vertices).double()
    lighting = torch.tensor([[0.4, 1.0, 0.9, 0.8, 0.7, 1.0, 0.9, 0.8, 0.3, -0.2, -1.0]], dtype=torch.float64)
    weights = torch.rand(1, SIZE, SIZE, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def silhouette_loss(v):
        return (soft_silhouette(v, faces, K, (SIZE, SIZE), sigma=2.0) * weights).sum()

    def image_loss(v, c, light):
        rgb, _, _ = render(v, faces, c, K, (SIZE, SIZE), light)
        return (rgb * weights[..., None]).sum()

    v = vertices.clone().requires_grad_(True)
    silhouette_loss(v).backward()
    edge = v.grad[0].norm(dim=-1).argsort(descending=True)[:4]  # vertices on the outline move the silhouette
    for vid in edge.tolist():
        for axis in range(2):
            step = torch.zeros_like(vertices)
            step[0, vid, axis] = 1e-6
            numeric = (silhouette_loss(vertices + step) - silhouette_loss(vertices - step)) / 2e-6
            assert v.grad[0, vid, axis].item() == pytest.approx(numeric.item(), rel=1e-3, abs=1e-3)

    c = colours.clone().requires_grad_(True)
    light = lighting.clone().requires_grad_(True)
    v = vertices.clone().requires_grad_(True)
    image_loss(v, c, light).backward()
    for k in range(11):
        step = torch.zeros_like(lighting)
        step[0, k] = 1e-6
        numeric = (image_loss(vertices, colours, lighting + step) - image_loss(vertices, colours, lighting - step)) / 2e-6
        assert light.grad[0, k].item() == pytest.approx(numeric.item(), rel=1e-4, abs=1e-6)
    seen = v.grad[0].norm(dim=-1).argsort(descending=True)[:3]  # vertices inside the image move the colours
    for vid in seen.tolist():
        step = torch.zeros_like(vertices)
        step[0, vid, 2] = 1e-7
        numeric = (image_loss(vertices + step, colours, lighting) - image_loss(vertices - step, colours, lighting)) / 2e-7
        assert v.grad[0, vid, 2].item() == pytest.approx(numeric.item(), rel=1e-3, abs=1e-4)
    # colours enter linearly: the gradient is the lit weight of each colour
    assert c.grad.abs().sum() > 0


def test_lambert_lighting_follows_the_normals():
    normals = torch.tensor([[[0.0, 0.0, -1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]])
    light = torch.tensor([[0.2, 1.0, 1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 0.0, 0.0, -1.0]])
    out = shade(normals, light)
    assert_close(out[0, :, 0], torch.tensor([0.7, 0.2, 0.2]), atol=1e-6)  # facing, facing away, edge-on
    tri = torch.tensor([[[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]])
    assert_close(face_normals(tri, torch.tensor([[0, 1, 2]]))[0, 0], torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)
