"""Dump the restored frames of a test run (``tools/test.py --dump``), through mmagic's evaluator."""
import os
import os.path as osp
from typing import List, Sequence

import mmengine
import numpy as np
from mmagic.evaluation.metrics.base_sample_wise_metric import BaseSampleWiseMetric
from mmagic.registry import METRICS


def to_uint8_frames(pred):
    """(…, 3, H, W) float prediction in [0, 255], BGR -> (…, H, W, 3) uint8 numpy, RGB.

    mmagic's ``DataPreprocessor.destruct`` hands the evaluator BGR frames, as its metrics and
    image writers expect."""
    array = pred.detach().float().clamp(0, 255).round().cpu().numpy().astype(np.uint8)
    return np.ascontiguousarray(np.moveaxis(array, -3, -1)[..., ::-1])


@METRICS.register_module()
class DumpPredictions(BaseSampleWiseMetric):
    """Write every prediction of a test run to a pickle file: a list, in dataset order, of
    ``dict(key=..., pred_img=uint8 RGB array (T, H, W, 3) or (H, W, 3))``.

    It scores nothing (returns no metric); mmengine's own ``DumpResults`` cannot be used with
    mmagic's evaluator, which asks each metric to ``prepare`` itself.

    Args:
        out_file_path (str): The pickle file (``.pkl``).
    """

    metric = 'dump'

    def __init__(self, out_file_path: str, **kwargs):
        super().__init__(**kwargs)
        if not str(out_file_path).endswith(('.pkl', '.pickle')):
            raise ValueError(f'DumpPredictions writes a pickle file (.pkl), got {out_file_path}')
        self.out_file_path = out_file_path

    def process(self, data_batch: Sequence[dict], data_samples: Sequence[dict]) -> None:
        for data in data_samples:
            key = data.get('key') or data.get('img_path') or str(len(self.results))
            self.results.append(dict(key=key,
                                     pred_img=to_uint8_frames(data['output']['pred_img'])))

    def compute_metrics(self, results: List) -> dict:
        folder = osp.dirname(osp.abspath(self.out_file_path))
        os.makedirs(folder, exist_ok=True)
        mmengine.dump(results, self.out_file_path)
        return {}
