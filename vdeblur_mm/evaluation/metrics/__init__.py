from .dump_predictions import DumpPredictions
from .lpips_metric import VideoLPIPS, build_lpips
from .video_metrics import TemporalFlowError, VideoPSNR, VideoSSIM, temporal_flow_error

__all__ = ['DumpPredictions', 'VideoLPIPS', 'build_lpips', 'TemporalFlowError', 'VideoPSNR',
           'VideoSSIM', 'temporal_flow_error']
