"""A differentiable triangle-mesh renderer in plain torch (CPU and CUDA alike; no compiled extension).

Camera: OpenCV axes (x right, y down, z forward) and pixel intrinsics K; pixel (col i, row j) covers
[i, i + 1) x [j, j + 1), sampled at its centre, as Blender renders a camera built from the same K.

- :func:`rasterize`: the front-most triangle of every pixel (a z-buffer), with perspective-correct
  barycentrics and depth. Face ids are a hard choice; barycentrics carry gradients to the vertices.
- :func:`soft_silhouette`: Soft Rasterizer's per-face coverage (Liu et al., ICCV 2019),
  ``D_f = sigmoid(sign * d^2 / sigma)`` from each pixel's squared distance to triangle f (sign + inside), so
  every pixel near an edge gets a gradient, which a hard silhouette cannot give. The faces are combined by
  their maximum, not SoftRas's ``1 - prod_f (1 - D_f)``: a MANO hand's faces are about a pixel wide in a
  crop, and the product over the many faces near an outline over-counts the hand's pixels; with the maximum,
  coverage above one half is exactly the hard silhouette.
- :func:`shade`: per-vertex colours under the 11-D lighting of S2HAND (Kato et al.'s Neural Mesh Renderer
  model): ambient intensity and colour, directional intensity, colour and direction, Lambertian on the
  face normals.
- :func:`render`: all three into an RGB image and an alpha.

Pixels go in square tiles, each against the faces whose screen box (widened by the soft edge) reaches it,
so the work grows with the pixels a face covers rather than pixels x faces.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

TILE = 8  # pixels are processed in TILE x TILE squares, each against only the faces whose box reaches it


@dataclass
class Raster:
    face: torch.Tensor  # (B, H, W) long: the front-most face, -1 where none
    bary: torch.Tensor  # (B, H, W, 3) perspective-correct barycentrics of that face (0 where none)
    depth: torch.Tensor  # (B, H, W) camera z (0 where none)

    @property
    def mask(self) -> torch.Tensor:
        return self.face >= 0


def project(vertices: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """(B, V, 3) camera-space points, (B, 3, 3) or (3, 3) intrinsics -> (B, V, 3): pixel x, y and depth z."""
    K = K.expand(vertices.shape[0], 3, 3) if K.dim() == 2 else K
    uvw = vertices @ K.transpose(1, 2)
    z = vertices[..., 2:3]
    return torch.cat([uvw[..., :2] / z.clamp(min=1e-6), z], -1)


def _tiles(size: Tuple[int, int], tri: torch.Tensor, margin: float):
    """(pixel indices (P,), pixel centres (P, 2), face ids (F',)) per tile: the faces of any image of the batch
    whose screen box, widened by ``margin`` pixels, reaches the tile."""
    h, w = size
    lo = tri.min(2).values.detach()  # (B, F, 2)
    hi = tri.max(2).values.detach()
    for y0 in range(0, h, TILE):
        for x0 in range(0, w, TILE):
            y1, x1 = min(y0 + TILE, h), min(x0 + TILE, w)
            near = ((hi[..., 0] >= x0 - margin) & (lo[..., 0] <= x1 + margin) &
                    (hi[..., 1] >= y0 - margin) & (lo[..., 1] <= y1 + margin)).any(0)
            ys, xs = torch.meshgrid(torch.arange(y0, y1, device=tri.device), torch.arange(x0, x1, device=tri.device),
                                    indexing="ij")
            index = (ys * w + xs).reshape(-1)
            centres = torch.stack([xs, ys], -1).reshape(-1, 2).to(tri.dtype) + 0.5
            yield index, centres, near.nonzero()[:, 0]


def _edge_terms(tri: torch.Tensor):
    """Screen triangles (B, F, 3, 2) -> what barycentrics need: corner a, edges ab, ac, and 1 / area2."""
    a, b, c = tri.unbind(2)
    ab, ac = b - a, c - a
    area2 = ab[..., 0] * ac[..., 1] - ab[..., 1] * ac[..., 0]  # signed, twice the area
    safe = torch.where(area2.abs() < 1e-12, torch.full_like(area2, 1e-12), area2)
    return a, ab, ac, 1.0 / safe


def _screen_bary(points: torch.Tensor, a, ab, ac, inv_area2) -> torch.Tensor:
    """(P, 2) pixels x (B, F) triangles -> (B, P, F, 3) screen-space barycentrics."""
    ap = points[None, :, None, :] - a[:, None]  # (B, P, F, 2)
    w1 = (ap[..., 0] * ac[:, None, :, 1] - ap[..., 1] * ac[:, None, :, 0]) * inv_area2[:, None]
    w2 = (ab[:, None, :, 0] * ap[..., 1] - ab[:, None, :, 1] * ap[..., 0]) * inv_area2[:, None]
    return torch.stack([1 - w1 - w2, w1, w2], -1)


def _pixel_bary(points: torch.Tensor, a, ab, ac, inv_area2) -> torch.Tensor:
    """(P, 2) pixels, each with its own triangle (B, P, 2 / -) -> (B, P, 3) screen-space barycentrics."""
    ap = points[None] - a
    w1 = (ap[..., 0] * ac[..., 1] - ap[..., 1] * ac[..., 0]) * inv_area2
    w2 = (ab[..., 0] * ap[..., 1] - ab[..., 1] * ap[..., 0]) * inv_area2
    return torch.stack([1 - w1 - w2, w1, w2], -1)


def rasterize(vertices: torch.Tensor, faces: torch.Tensor, K: torch.Tensor, size: Tuple[int, int],
              cull_backfaces: bool = False) -> Raster:
    """The front-most face under each pixel centre; barycentrics perspective-correct (1/z interpolation)."""
    b = vertices.shape[0]
    h, w = size
    screen = project(vertices, K)  # (B, V, 3)
    tri = screen[:, faces]  # (B, F, 3, 3)
    a, ab, ac, inv = _edge_terms(tri[..., :2])
    inv_z = 1.0 / tri[..., 2]  # (B, F, 3)
    valid = (tri[..., 2] > 1e-6).all(-1)
    if cull_backfaces:  # OpenCV axes, y down: a front face winds clockwise on screen, area2 > 0
        valid = valid & (inv > 0)
    face_map = torch.full((b, h * w), -1, dtype=torch.long, device=vertices.device)
    bary_map = vertices.new_zeros(b, h * w, 3)
    depth_map = vertices.new_zeros(b, h * w)
    for index, p, near in _tiles(size, tri[..., :2], 0.0):
        if len(near) == 0:
            continue
        with torch.no_grad():  # the choice of face is not differentiable
            lam = _screen_bary(p, a[:, near].detach(), ab[:, near].detach(), ac[:, near].detach(), inv[:, near].detach())
            inside = (lam >= -1e-7).all(-1) & valid[:, None, near]
            z = 1.0 / (lam * inv_z[:, near].detach()[:, None]).sum(-1).clamp(min=1e-9)
            z = torch.where(inside, z, torch.full_like(z, float("inf")))
            zmin, pick = z.min(-1)  # (B, P)
            best = near[pick]
            hit = torch.isfinite(zmin)
        # barycentrics of the chosen faces, recomputed with gradients
        idx = best.clamp(min=0)
        take = lambda t: torch.gather(t, 1, idx[..., None].expand(-1, -1, t.shape[-1]))  # noqa: E731
        lam_best = _pixel_bary(p, take(a), take(ab), take(ac), torch.gather(inv, 1, idx))  # (B, P, 3)
        lam_z = lam_best * take(inv_z)
        depth = 1.0 / lam_z.sum(-1).clamp(min=1e-9)
        bary = lam_z * depth[..., None]
        face_map[:, index] = torch.where(hit, best, torch.full_like(best, -1))
        bary_map[:, index] = torch.where(hit[..., None], bary, torch.zeros_like(bary))
        depth_map[:, index] = torch.where(hit, depth, torch.zeros_like(depth))
    return Raster(face_map.reshape(b, h, w), bary_map.reshape(b, h, w, 3), depth_map.reshape(b, h, w))


def _segment_distance2(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared distance of (P, 2) points to (B, F, 2) segments a-b -> (B, P, F)."""
    ab = b - a
    ap = p[None, :, None, :] - a[:, None]
    t = ((ap * ab[:, None]).sum(-1) / (ab * ab).sum(-1).clamp(min=1e-12)[:, None]).clamp(0, 1)
    d = ap - t[..., None] * ab[:, None]
    return (d * d).sum(-1)


def soft_silhouette(vertices: torch.Tensor, faces: torch.Tensor, K: torch.Tensor, size: Tuple[int, int],
                    sigma: float = 0.5) -> torch.Tensor:
    """(B, H, W) coverage in [0, 1]; ``sigma`` in squared pixels sets the edge's softness (0.5: about one
    pixel wide)."""
    b = vertices.shape[0]
    screen = project(vertices, K)
    tri = screen[:, faces][..., :2]  # (B, F, 3, 2)
    a, ab, ac, inv = _edge_terms(tri)
    coverage = vertices.new_zeros(b, size[0] * size[1])
    pieces = []
    for index, p, near in _tiles(size, tri, margin=4.0 * sigma ** 0.5):  # beyond, D_f < 1e-7
        if len(near) == 0:
            continue
        t = tri[:, near]
        lam = _screen_bary(p, a[:, near], ab[:, near], ac[:, near], inv[:, near])
        inside = (lam >= 0).all(-1)
        d2 = torch.minimum(torch.minimum(_segment_distance2(p, t[..., 0, :], t[..., 1, :]),
                                         _segment_distance2(p, t[..., 1, :], t[..., 2, :])),
                           _segment_distance2(p, t[..., 2, :], t[..., 0, :]))
        pieces.append((index, torch.sigmoid(torch.where(inside, d2, -d2) / sigma).max(-1).values))
    if pieces:
        index = torch.cat([i for i, _ in pieces])
        coverage = coverage.index_put((torch.arange(b)[:, None], index[None]), torch.cat([v for _, v in pieces], 1))
    return coverage.reshape(b, *size)


def face_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(B, F, 3) unit normals, by the right-hand rule over each face's corner order."""
    tri = vertices[:, faces]
    return F.normalize(torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1), dim=-1)


def shade(normals: torch.Tensor, lighting: torch.Tensor) -> torch.Tensor:
    """Per-face light (B, F, 3) from normals (B, F, 3) and S2HAND's 11-D lighting (B, 11): ambient intensity
    (1), ambient colour (3), directional intensity (1), directional colour (3), direction towards the light
    (3). ``light = la * ca + ld * cd * max(0, n . dir)``."""
    la, ca, ld, cd, direction = lighting.split([1, 3, 1, 3, 3], -1)
    lambert = (normals * F.normalize(direction, dim=-1)[:, None]).sum(-1, keepdim=True).clamp(min=0)
    return la[:, None] * ca[:, None] + ld[:, None] * cd[:, None] * lambert


def flat_lighting(batch: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Ambient only, white, intensity 1: the image is the vertex colours themselves."""
    light = torch.zeros(batch, 11, device=device, dtype=dtype)
    light[:, 0] = 1.0
    light[:, 1:4] = 1.0
    light[:, 8:11] = torch.tensor([0.0, 0.0, -1.0])
    return light


def render(vertices: torch.Tensor, faces: torch.Tensor, colors: torch.Tensor, K: torch.Tensor,
           size: Tuple[int, int], lighting: Optional[torch.Tensor] = None, sigma: float = 0.5):
    """(rgb (B, H, W, 3), alpha (B, H, W), raster): vertex ``colors`` (B, V, 3) interpolated on the front-most
    face and lit per face; alpha is the soft silhouette. Background pixels are 0."""
    b = vertices.shape[0]
    raster = rasterize(vertices, faces, K, size)
    lighting = flat_lighting(b, vertices.device, vertices.dtype) if lighting is None else lighting
    light = shade(face_normals(vertices, faces), lighting)  # (B, F, 3)
    face = raster.face.reshape(b, -1).clamp(min=0)
    corner = faces[face]  # (B, P, 3) vertex ids
    col = torch.gather(colors, 1, corner.reshape(b, -1, 1).expand(-1, -1, 3)).reshape(b, -1, 3, 3)
    rgb = (raster.bary.reshape(b, -1, 3, 1) * col).sum(2) * torch.gather(light, 1, face[..., None].expand(-1, -1, 3))
    rgb = torch.where(raster.mask.reshape(b, -1, 1), rgb, torch.zeros_like(rgb)).reshape(b, *size, 3)
    return rgb, soft_silhouette(vertices, faces, K, size, sigma), raster
