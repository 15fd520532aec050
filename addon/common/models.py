"""The model names, shared by the add-on's menus and the worker's catalogue (which holds the checkpoints)."""
MODEL_NAMES = ("blurhandnet", "deformer", "seqhand", "s2hand", "amvur")
MODEL_LABELS = {
    "blurhandnet": "BlurHandNet (blurry frames, sub-frame keys)",
    "deformer": "Deformer (dynamic fusion transformer)",
    "seqhand": "SeqHAND (recurrent)",
    "s2hand": "S2HAND(V) (self-supervised, texture)",
    "amvur": "AMVUR (uncertainty, occlusion-aware texture)",
}
# The models that predict the hand's colours themselves (``--skin network``).
TEXTURE_MODELS = ("s2hand", "amvur")
