"""Reading and writing videos as frame streams (mp4/avi/... files or folders of images)."""
import os
import os.path as osp

import cv2
import numpy as np

from ..datasets.layouts import IMAGE_EXTENSIONS, list_frames

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.m4v', '.webm', '.mpg', '.mpeg')


class VideoReadError(IOError):
    """A video file or frame folder cannot be read."""


class FrameReader:
    """Iterate over the RGB uint8 frames of a video file or a folder of images, one at a time.

    Args:
        path (str): A video file or a folder of frames (sorted by name).
    """

    def __init__(self, path):
        self.path = path
        if not osp.exists(path):
            raise VideoReadError(f'input {path} does not exist')
        self.is_folder = osp.isdir(path)
        self.fps = 25.0
        if self.is_folder:
            self.files = [osp.join(path, f) for f in list_frames(path)]
            if not self.files:
                raise VideoReadError(f'input folder {path} holds no image files '
                                     f'({", ".join(IMAGE_EXTENSIONS)})')
            self.num_frames = len(self.files)
            first = self._read_image(self.files[0])
            self.height, self.width = first.shape[:2]
        else:
            cap = cv2.VideoCapture(path)
            ok, frame = cap.read() if cap.isOpened() else (False, None)
            if not ok or frame is None:
                cap.release()
                raise VideoReadError(f'cannot read video {path}: not a video file, or a codec '
                                     'OpenCV cannot decode')
            self.height, self.width = frame.shape[:2]
            self.fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            self.num_frames = count if count > 0 else None  # a hint only for some containers
            cap.release()

    @staticmethod
    def _read_image(file):
        img = cv2.imread(file, cv2.IMREAD_COLOR)
        if img is None:
            raise VideoReadError(f'frame {file} could not be decoded (corrupt or not an image)')
        return img[..., ::-1]

    def __iter__(self):
        if self.is_folder:
            for file in self.files:
                img = self._read_image(file)
                if img.shape[:2] != (self.height, self.width):
                    raise VideoReadError(f'frame {file} is {img.shape[1]}x{img.shape[0]}, '
                                         f'the first frame is {self.width}x{self.height}')
                yield np.ascontiguousarray(img)
            return
        cap = cv2.VideoCapture(self.path)
        try:
            index = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                index += 1
                yield np.ascontiguousarray(frame[..., ::-1])
            if index == 0:
                raise VideoReadError(f'video {self.path} has no decodable frame')
        finally:
            cap.release()


class FrameWriter:
    """Write RGB uint8 frames to a video file (by extension) or to a folder of PNG images."""

    def __init__(self, path, fps=25.0, filename_tmpl='{:08d}.png'):
        self.path = path
        self.fps = fps
        self.filename_tmpl = filename_tmpl
        self.is_video = path.lower().endswith(VIDEO_EXTENSIONS)
        self.writer = None
        self.count = 0
        parent = osp.dirname(osp.abspath(path)) if self.is_video else path
        os.makedirs(parent, exist_ok=True)

    def write(self, frame):
        frame = np.ascontiguousarray(frame[..., ::-1])
        if not self.is_video:
            file = osp.join(self.path, self.filename_tmpl.format(self.count))
            if not cv2.imwrite(file, frame):
                raise IOError(f'could not write {file}')
        else:
            if self.writer is None:
                fourcc = cv2.VideoWriter_fourcc(*('mp4v' if self.path.lower().endswith(
                    ('.mp4', '.m4v', '.mov')) else 'MJPG'))
                self.writer = cv2.VideoWriter(self.path, fourcc, self.fps,
                                              (frame.shape[1], frame.shape[0]))
                if not self.writer.isOpened():
                    raise IOError(f'cannot open {self.path} for writing')
            self.writer.write(frame)
        self.count += 1

    def close(self):
        if self.writer is not None:
            self.writer.release()
            self.writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
