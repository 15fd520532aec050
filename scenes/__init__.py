"""Synthetic training data rendered in Blender: pose flows, scenes, blur synthesis, dataset writer.

Imports ``bpy``, numpy, the hand-model I/O and the rig builder; never ``torch`` in the render path.
"""
