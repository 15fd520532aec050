"""Preview rendering: a lit, textured hand over a plain backdrop, written as an H.264 MP4 by Blender itself."""
from __future__ import annotations

from pathlib import Path

import bpy

BACKDROP_RGB = (0.16, 0.17, 0.19)


def setup_preview_render(scene: bpy.types.Scene, engine: str = "workbench", percent: int = 50) -> None:
    """Workbench (fast, studio light, texture colours) or Cycles (CPU, few samples, denoised)."""
    world = scene.world or bpy.data.worlds.new("Backdrop")
    scene.world = world
    world.color = BACKDROP_RGB
    if engine == "cycles":
        scene.render.engine = "CYCLES"
        scene.cycles.device = "CPU"
        scene.cycles.samples = 16
        scene.cycles.use_denoising = True
        if world.node_tree is None:
            world.use_nodes = True
        world.node_tree.nodes["Background"].inputs["Color"].default_value = (*BACKDROP_RGB, 1.0)
        if not any(o.type == "LIGHT" for o in scene.objects):
            light = bpy.data.objects.new("Key light", bpy.data.lights.new("Key light", "SUN"))
            light.data.energy = 4.0
            light.rotation_euler = (0.9, 0.2, 0.6)
            scene.collection.objects.link(light)
    else:
        scene.render.engine = "BLENDER_WORKBENCH"
        shading = scene.display.shading
        shading.light = "STUDIO"
        shading.color_type = "TEXTURE"
        shading.show_shadows = True
        shading.show_cavity = True
    scene.render.resolution_percentage = percent
    scene.render.film_transparent = False


def setup_overlay_render(scene: bpy.types.Scene) -> None:
    """The hand alone over a transparent film (Workbench, studio light, texture colours), to lay over footage."""
    scene.render.engine = "BLENDER_WORKBENCH"
    shading = scene.display.shading
    shading.light, shading.color_type = "STUDIO", "TEXTURE"
    shading.show_cavity = True
    scene.render.film_transparent = True
    scene.render.resolution_percentage = 100
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):
        settings.media_type = "IMAGE"
    settings.file_format, settings.color_mode = "PNG", "RGBA"


def render_animation(scene: bpy.types.Scene, path: Path) -> Path:
    """Render the scene's frame range to an H.264 MP4 at ``path``."""
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):  # Blender 5.0 splits still images and video
        settings.media_type = "VIDEO"
    settings.file_format = "FFMPEG"
    scene.render.ffmpeg.format = "MPEG4"
    scene.render.ffmpeg.codec = "H264"
    scene.render.ffmpeg.constant_rate_factor = "MEDIUM"
    scene.render.use_file_extension = False
    scene.render.filepath = str(path)
    bpy.ops.render.render(animation=True, scene=scene.name)
    return path
