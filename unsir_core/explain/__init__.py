"""Explanations of a classifier's decisions: class activation maps (GradCAM and relatives)."""

from unsir_core.explain.gradcam import METHODS, heatmaps, overlay

__all__ = ["METHODS", "heatmaps", "overlay"]
