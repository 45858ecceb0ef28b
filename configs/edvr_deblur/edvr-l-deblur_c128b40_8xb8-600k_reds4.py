# EDVR-L for video deblurring on REDS (BasicSR EDVR_L_deblur_REDS architecture): 128 channels,
# 5 frames, 8 deformable groups, 5 extraction + 40 reconstruction blocks, pre-deblur module,
# full-resolution input (hr_in), TSA fusion. REDS4 (000, 011, 015, 020) is held out and used for
# validation/testing on whole sequences (every frame, replicate temporal padding, RGB, crop 0).
# Training recipe: mmagic's EDVR-L (edvrl_c128b40_8xb8-lr2e-4-600k_reds4) with BasicSR's Adam
# betas (0.9, 0.99); no deblur training config is published at BasicSR/mmagic HEAD (README.md).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/adam_cosine_600k.py',
    '../_base_/datasets/reds_video_deblur.py',
]
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'edvr-l-deblur_c128b40_8xb8-600k_reds4'
work_dir = f'./work_dirs/{experiment_name}'

num_frames = 5
model = dict(
    type='EDVRDeblur',
    generator=dict(
        type='EDVRDeblurNet',
        in_channels=3,
        out_channels=3,
        mid_channels=128,
        num_frames=num_frames,
        deform_groups=8,
        num_extract_block=5,
        num_reconstruct_block=40,
        center_frame_idx=None,
        hr_in=True,
        with_predeblur=True,
        with_tsa=True),
    pixel_loss=dict(type='CharbonnierLoss', loss_weight=1.0, reduction='sum'),
    # only the TSA fusion module trains for the first 5k iterations
    train_cfg=dict(tsa_iter=5000),
    # whole-video testing: 4 windows per network call, first/last frame replicated
    test_cfg=dict(window_batch=4, temporal_padding='replicate'),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.]))

# N-frame clips with the sharp centre frame as target; the clip length comes from the dataset's
# num_input_frames (so that it can be changed in one place)
train_pipeline = [
    dict(type='SampleVideoClip', interval_list=[1], gt_frames='centre'),
    dict(type='LoadVideoFrames', key='img', channel_order='rgb'),
    dict(type='LoadVideoFrames', key='gt', channel_order='rgb'),
    dict(type='SetValues', dictionary=dict(scale=1)),
    dict(type='PairedRandomCrop', gt_patch_size=256),
    dict(type='Flip', keys=['img', 'gt'], flip_ratio=0.5, direction='horizontal'),
    dict(type='Flip', keys=['img', 'gt'], flip_ratio=0.5, direction='vertical'),
    dict(type='RandomTransposeHW', keys=['img', 'gt'], transpose_ratio=0.5),
    dict(type='PackInputs')
]

# 8 GPUs x 8 clips
train_dataloader = dict(
    num_workers=6,
    batch_size=8,
    dataset=dict(num_input_frames=num_frames, pipeline=train_pipeline))

train_cfg = dict(type='IterBasedTrainLoop', max_iters=600_000, val_interval=5000)

optim_wrapper = dict(
    constructor='DefaultOptimWrapperConstructor',
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=2e-4, betas=(0.9, 0.99)))

param_scheduler = dict(
    type='CosineRestartLR',
    by_epoch=False,
    periods=[50_000, 100_000, 150_000, 150_000, 150_000],
    restart_weights=[1, 0.5, 0.5, 0.5, 0.5],
    eta_min=1e-7)

# the TSA warm-up leaves most parameters without gradients
find_unused_parameters = True
