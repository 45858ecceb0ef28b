from .dump_predictions import DumpPredictions
from .fid_kid import VideoFIDKID, kernel_inception_distance, load_inception
from .lpips_metric import VideoLPIPS, build_lpips
from .video_metrics import TemporalFlowError, VideoPSNR, VideoSSIM, temporal_flow_error

__all__ = ['DumpPredictions', 'VideoFIDKID', 'kernel_inception_distance', 'load_inception',
           'VideoLPIPS', 'build_lpips', 'TemporalFlowError', 'VideoPSNR',
           'VideoSSIM', 'temporal_flow_error']
