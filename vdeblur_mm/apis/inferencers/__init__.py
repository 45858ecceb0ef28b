from .video_deblur_inferencer import VideoDeblurInferencer

__all__ = ['VideoDeblurInferencer']
