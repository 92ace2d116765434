"""Preprocessing for training: frames → sparse user×post matrix, post features and texts.

The implementation lives with the model (`app.infrastructure.ml.preprocessing`) so that
fitting and training share it; this is the training package's name for it.
"""

from app.infrastructure.ml.preprocessing import Preprocessed, catalogue_texts, preprocess

__all__ = ["Preprocessed", "catalogue_texts", "preprocess"]
