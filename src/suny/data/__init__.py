"""Reading images and datasets: robust image loading, the on-disk layouts users have (ILSVRC val as
Kaggle CSVs or VOC XML, CUB-200-2011, folders of images) and ground-truth boxes as masks."""

from suny.data.boxes import box_mask, class_masks, preprocessed_geometry
from suny.data.cub import cub_class_names, cub_dataset
from suny.data.datasets import LAYOUTS, load_dataset
from suny.data.folder import image_folder
from suny.data.ilsvrc import ilsvrc_kaggle, read_synsets
from suny.data.images import load_image, original_size, sample_image
from suny.data.sample import Box, DatasetError, Sample
from suny.data.voc import voc_dataset

__all__ = [
    "LAYOUTS",
    "Box",
    "DatasetError",
    "Sample",
    "box_mask",
    "class_masks",
    "cub_class_names",
    "cub_dataset",
    "ilsvrc_kaggle",
    "image_folder",
    "load_dataset",
    "load_image",
    "original_size",
    "preprocessed_geometry",
    "read_synsets",
    "sample_image",
    "voc_dataset",
]
