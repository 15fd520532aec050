"""Training: datasets, losses, metrics and trainers that rebuild every model (see the BlurHandNet issue).

Imports ``inference`` (models, hand model); never ``bpy``.
"""
