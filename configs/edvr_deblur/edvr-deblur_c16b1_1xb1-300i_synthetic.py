# A tiny EDVR deblurring config for the synthetic GoPro-style data
# (tools/generate_synthetic_data.py), for tests and CPU demos: the EDVR-L deblur architecture
# (pre-deblur, hr_in, PCD, TSA) with 16 channels, 3 frames, 2 deformable groups, 1 + 1 blocks.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/adam_cosine_600k.py',
    '../_base_/datasets/synthetic_video_deblur.py',
]
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'edvr-deblur_c16b1_1xb1-300i_synthetic'
work_dir = f'./work_dirs/{experiment_name}'

num_frames = 3
model = dict(
    type='EDVRDeblur',
    generator=dict(
        type='EDVRDeblurNet',
        in_channels=3,
        out_channels=3,
        mid_channels=16,
        num_frames=num_frames,
        deform_groups=2,
        num_extract_block=1,
        num_reconstruct_block=1,
        hr_in=True,
        with_predeblur=True,
        with_tsa=True),
    pixel_loss=dict(type='CharbonnierLoss', loss_weight=1.0, reduction='sum'),
    train_cfg=dict(tsa_iter=50),
    test_cfg=dict(window_batch=4, temporal_padding='replicate'),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.]))

train_pipeline = [
    dict(type='SampleVideoClip', interval_list=[1], gt_frames='centre'),
    dict(type='LoadVideoFrames', key='img', channel_order='rgb'),
    dict(type='LoadVideoFrames', key='gt', channel_order='rgb'),
    dict(type='SetValues', dictionary=dict(scale=1)),
    dict(type='PairedRandomCrop', gt_patch_size=64),
    dict(type='Flip', keys=['img', 'gt'], flip_ratio=0.5, direction='horizontal'),
    dict(type='Flip', keys=['img', 'gt'], flip_ratio=0.5, direction='vertical'),
    dict(type='RandomTransposeHW', keys=['img', 'gt'], transpose_ratio=0.5),
    dict(type='PackInputs')
]

train_dataloader = dict(
    num_workers=0,
    batch_size=1,
    dataset=dict(num_input_frames=num_frames, pipeline=train_pipeline))
val_dataloader = dict(num_workers=0)
test_dataloader = val_dataloader

max_iters = 300
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)

optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-4, betas=(0.9, 0.99)))
param_scheduler = dict(
    type='CosineRestartLR', by_epoch=False, periods=[max_iters], restart_weights=[1],
    eta_min=1e-7)

find_unused_parameters = True

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_best=None))
