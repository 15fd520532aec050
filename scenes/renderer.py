"""Renders the rigged hand in Blender: one rig per sequence, posed per (sub-)frame, lit at random.

The hand (and optional occluders / second hand) is rendered over a transparent film to a linear half-float
EXR, read back through Blender's own image loader, and composited over the background in numpy, in linear
light. Poses are set directly on the rig (bone quaternions and the 135 corrective shape-key values), the
same numbers the keyframe writer would key, so the render equals the MANO mesh.
"""
from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import bpy
import numpy as np

from addon.blender.animate import key_rig, rig_channels
from addon.blender.importer import add_footage_camera
from addon.blender.rig import HandRig, build_hand_rig
from addon.common.hand_model import HandModel, builtin_texture

# Skin tones (linear RGB multipliers of the texture), light to dark; a flow picks one.
SKIN_TONES = np.array([
    [1.10, 1.05, 1.00], [1.00, 0.95, 0.90], [0.95, 0.85, 0.75], [0.85, 0.70, 0.58],
    [0.70, 0.55, 0.42], [0.55, 0.40, 0.30], [0.40, 0.28, 0.20], [0.28, 0.19, 0.14],
])
ENGINES = {"cycles": "CYCLES", "eevee": "BLENDER_EEVEE", "workbench": "BLENDER_WORKBENCH"}
EXPOSURE_FRAME = 100  # the scene frame one-pass blur is rendered at; its keys span this frame -+ 0.5
MOTION_STEPS = 4  # Cycles samples deformation at 2 ** (steps - 1) instants over the shutter


@dataclass
class RenderSettings:
    size: int = 256
    fov_deg: float = 40.0
    engine: str = "cycles"
    samples: int = 16
    device: str = "CPU"  # or "GPU" where Cycles finds one
    threads: int = 0  # render threads; 0 = all cores (workers split the cores between them)

    @property
    def intrinsics(self) -> np.ndarray:
        f = 0.5 * self.size / np.tan(np.radians(self.fov_deg) / 2)
        return np.array([[f, 0.0, self.size / 2], [0.0, f, self.size / 2], [0.0, 0.0, 1.0]])


class HandRenderer:
    """Owns the Blender scene of one worker process."""

    def __init__(self, settings: RenderSettings, scratch: Optional[Path] = None):
        self.settings = settings
        self.scratch = Path(scratch or tempfile.mkdtemp(prefix="hand-mocap-render-"))
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.rigs: List[HandRig] = []
        self.occluders: List[bpy.types.Object] = []
        self.forearms: List[bpy.types.Object] = []
        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = bpy.context.scene
        self.scene = scene
        engine = ENGINES[settings.engine]
        if engine == "BLENDER_EEVEE" and bpy.app.version < (5, 0, 0):
            engine = "BLENDER_EEVEE_NEXT"
        scene.render.engine = engine
        if settings.threads > 0:
            scene.render.threads_mode = "FIXED"
            scene.render.threads = settings.threads
        if engine == "CYCLES":
            scene.cycles.samples = settings.samples
            scene.cycles.device = enable_gpu() if settings.device == "GPU" else "CPU"
            scene.cycles.use_denoising = False  # deterministic, and noise is realistic
            scene.cycles.seed = 0
        elif engine == "BLENDER_WORKBENCH":
            scene.display.shading.light = "STUDIO"
            scene.display.shading.color_type = "TEXTURE"
        scene.render.resolution_x = scene.render.resolution_y = settings.size
        scene.render.resolution_percentage = 100
        scene.render.film_transparent = True
        scene.view_settings.view_transform = "Standard"
        settings_img = scene.render.image_settings
        if hasattr(settings_img, "media_type"):
            settings_img.media_type = "IMAGE"
        settings_img.file_format = "OPEN_EXR"
        settings_img.color_depth = "16"
        settings_img.color_mode = "RGBA"
        scene.render.use_compositing = False
        scene.render.use_sequencer = False
        world = bpy.data.worlds.new("World")
        scene.world = world
        if world.node_tree is None:
            world.use_nodes = True
        self.world_bg = world.node_tree.nodes["Background"]
        self.lights: List[bpy.types.Object] = []

    # ------------------------------------------------------------------------------------ scene content

    def clear(self) -> None:
        from .forearm import remove

        remove(self.forearms)
        self.forearms = []
        for rig in self.rigs:
            for obj in rig.objects:
                data = obj.data
                bpy.data.objects.remove(obj)
                if data is not None and data.users == 0:
                    for coll in (bpy.data.meshes, bpy.data.armatures, bpy.data.cameras):
                        if data.name in coll and coll[data.name] == data:
                            coll.remove(data)
                            break
        for mat in [m for m in bpy.data.materials if m.users == 0]:
            bpy.data.materials.remove(mat)
        for obj in self.occluders:
            bpy.data.objects.remove(obj)
        self.rigs, self.occluders = [], []

    def add_hand(self, model: HandModel, betas: np.ndarray, skin: int, name: str, camera: bool,
                 nail_rgb: Optional[np.ndarray] = None) -> HandRig:
        """The rigged hand in skin tone ``skin``; ``nail_rgb`` (linear RGB) paints a built-in hand's nails."""
        rig = build_hand_rig(model, betas, name=name)
        tone = SKIN_TONES[skin % len(SKIN_TONES)]
        mat = rig.mesh.data.materials[0]
        nodes, links = mat.node_tree.nodes, mat.node_tree.links
        bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
        tex = next((n for n in nodes if n.type == "TEX_IMAGE"), None)
        mix = nodes.new("ShaderNodeMix")
        mix.data_type = "RGBA"
        mix.blend_type = "MULTIPLY"
        mix.inputs["Factor"].default_value = 1.0
        mix.inputs[7].default_value = (*tone, 1.0)  # B colour
        if tex is not None:
            links.new(tex.outputs["Color"], mix.inputs[6])  # A colour
        else:
            mix.inputs[6].default_value = bsdf.inputs["Base Color"].default_value
        links.new(mix.outputs[2], bsdf.inputs["Base Color"])
        nails = builtin_texture(model, "nails")
        if nail_rgb is not None and tex is not None and nails is not None:  # nails are not skin-toned
            mask = nodes.new("ShaderNodeTexImage")
            mask.image = bpy.data.images.load(str(nails), check_existing=True)
            mask.image.colorspace_settings.name = "Non-Color"
            paint = nodes.new("ShaderNodeMix")
            paint.data_type = "RGBA"
            links.new(mask.outputs["Color"], paint.inputs["Factor"])
            links.new(mix.outputs[2], paint.inputs[6])
            paint.inputs[7].default_value = (*nail_rgb, 1.0)
            links.new(paint.outputs[2], bsdf.inputs["Base Color"])
        if tex is not None:
            nodes.active = tex  # Workbench's texture colour mode shows the active image node
        if camera:
            add_footage_camera(rig, self.settings.intrinsics, np.array([self.settings.size] * 2),
                               self.scene.collection)
        self.rigs.append(rig)
        return rig

    def add_forearm(self, rig: HandRig, model: HandModel, betas: np.ndarray, skin: int,
                    rng: np.random.Generator) -> None:
        """MakeHuman's forearm (and a random sleeve) fixed to the rig's wrist, in the hand's skin tone."""
        from .forearm import add_forearm

        self.forearms += add_forearm(rig.armature, rig.bones[0], model, betas, SKIN_TONES[skin % len(SKIN_TONES)],
                                     rng)

    def randomize_lights(self, rng: np.random.Generator) -> None:
        for obj in self.lights:
            bpy.data.objects.remove(obj)
        self.lights = []
        self.world_bg.inputs["Strength"].default_value = float(rng.uniform(0.3, 1.0))
        self.world_bg.inputs["Color"].default_value = (*rng.uniform(0.6, 1.0, 3), 1.0)
        for k in range(int(rng.integers(1, 4))):
            light = bpy.data.lights.new(f"light{k}", "AREA" if rng.random() < 0.5 else "POINT")
            light.energy = float(rng.uniform(1.0, 8.0))
            light.color = tuple(rng.uniform(0.75, 1.0, 3))
            if light.type == "AREA":
                light.size = float(rng.uniform(0.1, 0.5))
            obj = bpy.data.objects.new(f"light{k}", light)
            self.scene.collection.objects.link(obj)
            # around the camera (Blender world: camera at the origin looking along +Y)
            obj.location = (float(rng.uniform(-0.8, 0.8)), float(rng.uniform(-0.3, 0.3)), float(rng.uniform(-0.5, 0.9)))
            direction = np.array([0.0, 0.5, 0.0]) - np.array(obj.location)
            obj.rotation_euler = _look_rotation(direction)
            self.lights.append(obj)

    def add_occluder(self, rng: np.random.Generator) -> bpy.types.Object:
        kind = ["SPHERE", "CYLINDER", "CUBE"][int(rng.integers(3))]
        mesh = bpy.data.meshes.new(f"occluder_{kind.lower()}")
        verts, faces = _primitive(kind)
        mesh.from_pydata(verts.tolist(), [], faces)
        obj = bpy.data.objects.new(mesh.name, mesh)
        self.scene.collection.objects.link(obj)
        mat = bpy.data.materials.new(mesh.name)
        if mat.node_tree is None:
            mat.use_nodes = True
        bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
        colour = (*rng.uniform(0.05, 0.9, 3), 1.0)
        bsdf.inputs["Base Color"].default_value = colour
        mat.diffuse_color = colour
        mesh.materials.append(mat)
        obj.scale = tuple(rng.uniform(0.015, 0.04, 3))
        obj.pass_index = 2
        self.occluders.append(obj)
        return obj

    # ----------------------------------------------------------------------------------------- posing

    def pose(self, rig: HandRig, full_pose: np.ndarray, transl: np.ndarray) -> None:
        ch = rig_channels(rig, np.zeros(1), full_pose[None], transl[None])
        bones = rig.armature.pose.bones
        for j, name in enumerate(rig.bones):
            bones[name].rotation_quaternion = ch.quaternions[0, j]
        bones[rig.bones[0]].location = ch.root_location[0]
        blocks = rig.mesh.data.shape_keys.key_blocks
        blocks.foreach_set("value", np.concatenate([[0.0], ch.correctives[0]]).astype(np.float32))

    def key_exposure(self, rig: HandRig, full_pose: np.ndarray, transl: np.ndarray) -> None:
        """Key the rig at K instants spread evenly over the shutter (scene frames EXPOSURE_FRAME -+ 0.5): the
        motion Cycles blurs over in one pass (:meth:`render_blurred`). full_pose (K, 48), transl (K, 3)."""
        times = EXPOSURE_FRAME + np.linspace(-0.5, 0.5, len(full_pose))
        key_rig(rig, rig_channels(rig, times, full_pose, transl), interpolation="LINEAR")

    def key_object_path(self, obj: bpy.types.Object, locations: np.ndarray) -> None:
        """Key an object's location at K instants over the shutter (an occluder drifting during the exposure)."""
        from addon.blender.keyframes import ensure_action, key_channels

        ensure_action(obj, f"{obj.name}_exposure")
        times = EXPOSURE_FRAME + np.linspace(-0.5, 0.5, len(locations))
        key_channels(obj, "location", times, locations)

    def clear_exposure_keys(self) -> None:
        """Drop the exposure's keys (direct posing takes over again)."""
        for obj in self.scene.objects:
            holders = [obj, obj.data.shape_keys] if obj.type == "MESH" and obj.data.shape_keys else [obj]
            for holder in holders:
                if holder.animation_data is not None:
                    action = holder.animation_data.action
                    holder.animation_data_clear()
                    if action is not None and action.users == 0:
                        bpy.data.actions.remove(action)

    def render_blurred(self, steps: int = MOTION_STEPS, samples: int = 0) -> np.ndarray:
        """One Cycles render with motion blur over the keyed exposure: deformation blur of the skinned mesh
        (``2 ** (steps - 1)`` motion steps) and object motion, shutter centred on the frame. Its ``samples``
        (default: the sharp frames' count) spread over the shutter as well as the pixel: more of them give
        less noise at proportionally more time (bm_blur.py measures both)."""
        scene = self.scene
        if scene.render.engine != "CYCLES":
            raise ValueError("one-pass motion blur needs Cycles (--engine cycles); use --blur-method average")
        scene.render.use_motion_blur = True
        scene.render.motion_blur_shutter = 1.0  # the keyed instants span exactly one scene frame
        scene.render.motion_blur_position = "CENTER"
        for obj in scene.objects:
            if obj.type == "MESH":
                obj.cycles.use_motion_blur = True
                obj.cycles.use_deform_motion = True
                obj.cycles.motion_steps = steps
        scene.frame_set(EXPOSURE_FRAME)
        scene.cycles.samples = samples or self.settings.samples
        try:
            return self.render("blurred")
        finally:
            scene.render.use_motion_blur = False
            scene.cycles.samples = self.settings.samples

    def render(self, tag: str = "frame") -> np.ndarray:
        """Render the current state -> (H, W, 4) linear premultiplied RGBA, top row first."""
        path = self.scratch / f"{tag}_{os.getpid()}.exr"
        self.scene.render.filepath = str(path)
        with _quiet_stdout():
            bpy.ops.render.render(write_still=True)
        image = bpy.data.images.load(str(path))
        try:
            px = np.empty(len(image.pixels), dtype=np.float32)
            image.pixels.foreach_get(px)
            h, w = image.size[1], image.size[0]
        finally:
            bpy.data.images.remove(image)
            path.unlink(missing_ok=True)
        return px.reshape(h, w, 4)[::-1].copy()

    def hand_mask(self, rig: HandRig) -> np.ndarray:
        """Pixels where the hand is seen (other objects in front hide it): a flat-colour Workbench pass."""
        scene = self.scene
        saved = (scene.render.engine, scene.display.shading.light, scene.display.shading.color_type)
        others = [o for o in scene.objects if o.type == "MESH" and o != rig.mesh]
        scene.render.engine = "BLENDER_WORKBENCH"
        scene.display.shading.light = "FLAT"
        scene.display.shading.color_type = "OBJECT"
        colours = {o: tuple(o.color) for o in [rig.mesh, *others]}
        rig.mesh.color = (1.0, 1.0, 1.0, 1.0)
        for o in others:
            o.color = (0.0, 0.0, 0.0, 1.0)
        try:
            rgba = self.render("mask")
        finally:
            scene.render.engine, scene.display.shading.light, scene.display.shading.color_type = saved
            for o, c in colours.items():
                o.color = c
        return (rgba[..., 0] > 0.5 * np.maximum(rgba[..., 3], 1e-6)) & (rgba[..., 3] > 0.5)


class NoGPUError(RuntimeError):
    """--device gpu was asked for, but Cycles finds no GPU backend on this machine."""


def enable_gpu() -> str:
    """Turn on the first GPU backend Cycles finds (OptiX, CUDA, HIP, Metal, oneAPI); 'GPU' or an error."""
    prefs = bpy.context.preferences.addons["cycles"].preferences
    for backend in ("OPTIX", "CUDA", "HIP", "METAL", "ONEAPI"):
        try:
            prefs.compute_device_type = backend
        except TypeError:  # this build does not offer the backend at all
            continue
        prefs.refresh_devices() if hasattr(prefs, "refresh_devices") else prefs.get_devices()
        gpus = [d for d in prefs.devices if d.type == backend]
        if gpus:
            for d in prefs.devices:
                d.use = d.type == backend
            return "GPU"
    raise NoGPUError("Cycles finds no GPU on this machine (tried OptiX, CUDA, HIP, Metal, oneAPI); use --device cpu")


@contextmanager
def _quiet_stdout():
    """Blender prints a few lines per render from C; keep them off the terminal (the progress bar is there)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def load_image_linear(path: Path) -> np.ndarray:
    """Any image Blender reads -> (H, W, 3) linear float32, top row first."""
    image = bpy.data.images.load(str(path))
    try:
        px = np.empty(len(image.pixels), dtype=np.float32)
        image.pixels.foreach_get(px)
        w, h = image.size
        rgb = px.reshape(h, w, image.channels)[::-1, :, :3].copy() if image.channels >= 3 else \
            np.repeat(px.reshape(h, w, image.channels)[::-1, :, :1], 3, axis=2)
        if not image.is_float:  # byte images hold display-encoded (sRGB) values
            from .backgrounds import srgb_to_linear

            rgb = srgb_to_linear(rgb)
    finally:
        bpy.data.images.remove(image)
    return rgb


def _look_rotation(direction: np.ndarray):
    from mathutils import Vector

    return Vector(direction.tolist()).to_track_quat("-Z", "Y").to_euler()


def _primitive(kind: str):
    """Unit sphere / cylinder / cube as (vertices, faces)."""
    if kind == "CUBE":
        v = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)
        f = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
        return v, f
    n = 16
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    if kind == "CYLINDER":
        v = np.concatenate([np.stack([np.cos(a), np.sin(a), np.full(n, z)], 1) for z in (-1.0, 1.0)])
        f = [(k, (k + 1) % n, n + (k + 1) % n, n + k) for k in range(n)]
        f += [tuple(range(n - 1, -1, -1)), tuple(range(n, 2 * n))]
        return v, f
    rows = 8
    lat = np.linspace(-np.pi / 2, np.pi / 2, rows + 1)[1:-1]
    v = [[0, 0, -1.0]] + [[np.cos(t) * np.cos(p), np.cos(t) * np.sin(p), np.sin(t)] for t in lat for p in a] + [[0, 0, 1.0]]
    f = [(0, 1 + (k + 1) % n, 1 + k) for k in range(n)]
    for r in range(rows - 2):
        s = 1 + r * n
        f += [(s + k, s + (k + 1) % n, s + n + (k + 1) % n, s + n + k) for k in range(n)]
    top, last = len(v) - 1, 1 + (rows - 2) * n
    f += [(last + k, last + (k + 1) % n, top) for k in range(n)]
    return np.array(v), f
