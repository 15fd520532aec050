"""Everything that needs Blender: rig builder, keyframe writer, importer, operators, UI."""


def register() -> None:
    from . import ui

    ui.register()


def unregister() -> None:
    from . import ui

    ui.unregister()
