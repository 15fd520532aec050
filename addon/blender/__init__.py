"""Everything that needs Blender: rig builder, keyframe writer, importer, operators, UI."""


def register() -> None:
    from . import ui

    ui.register()


def unregister() -> None:
    from ..common import kept_worker
    from . import ui

    ui.unregister()
    kept_worker.release()
