from .video_deblur_editor import VideoDeblurEditor

__all__ = ['VideoDeblurEditor']
