from .layouts import DATASET_LAYOUTS, discover_sequences, list_frames
from .synthetic import generate_synthetic_dataset
from .transforms import LoadVideoFrames, SampleVideoClip
from .validation import validate_dataset, write_annotation
from .video_deblur_dataset import DatasetError, VideoDeblurDataset, read_annotation, scan_sequence

__all__ = [
    'DATASET_LAYOUTS', 'discover_sequences', 'list_frames', 'LoadVideoFrames', 'SampleVideoClip',
    'DatasetError', 'VideoDeblurDataset', 'read_annotation', 'scan_sequence',
    'generate_synthetic_dataset', 'validate_dataset', 'write_annotation'
]
