from .metrics import TemporalFlowError, VideoLPIPS, VideoPSNR, VideoSSIM

__all__ = ['TemporalFlowError', 'VideoLPIPS', 'VideoPSNR', 'VideoSSIM']
