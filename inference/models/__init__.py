"""The networks (BlurHandNet, Deformer, SeqHAND, S2HAND, AMVUR) and their shared blocks. Never imports training."""
