from .downsample import downsample_folder, downsample_frame
from .layouts import DATASET_LAYOUTS, discover_sequences, layout_folders, list_frames
from .pseudo_flows import build_flow_estimator, generate_pseudo_flows
from .synthetic import generate_synthetic_dataset
from .transforms import (
    FlipWithFlow,
    LoadPseudoFlows,
    LoadVideoFrames,
    SampleVideoClip,
    ScaledPairedRandomCrop,
)
from .validation import validate_dataset, write_annotation
from .video_deblur_dataset import DatasetError, VideoDeblurDataset, read_annotation, scan_sequence

__all__ = [
    'DATASET_LAYOUTS', 'discover_sequences', 'layout_folders', 'list_frames', 'LoadVideoFrames',
    'SampleVideoClip', 'LoadPseudoFlows', 'ScaledPairedRandomCrop', 'FlipWithFlow',
    'DatasetError', 'VideoDeblurDataset', 'read_annotation', 'scan_sequence',
    'generate_synthetic_dataset', 'validate_dataset', 'write_annotation', 'downsample_frame',
    'downsample_folder', 'build_flow_estimator', 'generate_pseudo_flows'
]
