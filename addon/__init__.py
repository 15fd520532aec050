"""Hand Mocap: a Blender extension that turns video of hands into an animated MANO hand.

This package must stay importable without Blender: ``addon.common`` (file formats, joint orders, numpy
MANO maths) is shared with the inference worker. Everything that needs ``bpy`` is imported in register().
"""


def register() -> None:
    from . import blender

    blender.register()


def unregister() -> None:
    from . import blender

    blender.unregister()
