from .metrics import DumpPredictions, TemporalFlowError, VideoLPIPS, VideoPSNR, VideoSSIM

__all__ = ['DumpPredictions', 'TemporalFlowError', 'VideoLPIPS', 'VideoPSNR', 'VideoSSIM']
