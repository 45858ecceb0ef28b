# Runtime defaults for vdeblur_mm configs (mmagic's default runtime, plus the plugin import).
default_scope = 'mmagic'
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)
save_dir = './work_dirs'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        interval=5000,
        by_epoch=False,
        max_keep_ckpts=10,
        save_best='PSNR',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # NCCL on GPUs; tools/train.py switches to gloo when CUDA is unavailable
    dist_cfg=dict(backend='nccl'),
)

log_level = 'INFO'
log_processor = dict(type='LogProcessor', window_size=100, by_epoch=False)

load_from = None
resume = False

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='ConcatImageVisualizer',
    vis_backends=vis_backends,
    fn_key='gt_path',
    img_keys=['gt_img', 'input', 'pred_img'],
    bgr2rgb=True)
# vis_backends: add dict(type='TensorboardVisBackend') (needs the tensorboard package) to also
# log the validation panels and scalars to TensorBoard.
# Testing: a log line per sequence with an ETA; `--out FILE` (stock or our tools/test.py) writes
# the mean and per-sequence metrics (keys 'PSNR', 'PSNR/<sequence>', ...). Restored frames are
# written as PNGs when restored_frames_dir is set (--cfg-options restored_frames_dir=DIR, or our
# tools/test.py --save-frames DIR). Validation sends blurry | restored | sharp panels of a few
# frames to the visualiser. RandomStatesHook makes --resume continue a run exactly.
restored_frames_dir = None
custom_hooks = [
    dict(type='RandomStatesHook'),
    dict(type='SequenceProgressHook'),
    dict(type='SaveRestoredFramesHook'),
    dict(type='VideoVisualizationHook', num_frames=3, max_sequences=4),
]
