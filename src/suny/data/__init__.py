"""Reading images and datasets: robust image loading and the on-disk layouts users have."""

from suny.data.images import load_image, sample_image

__all__ = ["load_image", "sample_image"]
