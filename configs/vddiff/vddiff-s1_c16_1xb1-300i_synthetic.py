# A tiny VD-Diff stage 1 for the synthetic GoPro-style data (tools/generate_synthetic_data.py),
# for tests and CPU runs: the GoPro architecture (LE, Haar levels, prior-modulated transformer,
# dynamic-kernel propagation) with 16 channels, one transformer block per level, one residual
# block per propagation step, a 32-d prior; 4-frame clips of 64 px.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/synthetic_video_deblur.py',
]
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'vddiff-s1_c16_1xb1-300i_synthetic'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    type='VDDiffDeblur',
    generator=dict(
        type='VDDiffNet',
        stage='s1',
        mid_channels=16,
        num_blocks=(1, 1),
        heads=(1, 2),
        propagation_blocks=1,
        prior_channels=32,
        encoder_channels=8,
        encoder_blocks=1,
        output_residual='double'),
    pixel_loss=dict(type='CharbonnierLoss', loss_weight=1.0, reduction='mean', eps=1e-12),
    fft_loss=dict(type='FFTL1Loss', loss_weight=0.1),
    test_cfg=dict(chunk_frames=4),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.]))

train_pipeline = [
    dict(type='SampleVideoClip', interval_list=[1]),
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
    num_workers=0, batch_size=1, dataset=dict(num_input_frames=4, pipeline=train_pipeline))
# the official protocol in miniature: 4-frame clips, the last aligned to the end
val_dataloader = dict(num_workers=0, dataset=dict(clips=dict(frames=4, overlap=0)))
test_dataloader = val_dataloader

max_iters = 300
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='MultiValLoop')
test_cfg = dict(type='MultiTestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=8e-4, betas=(0.9, 0.999), weight_decay=4e-5))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=max_iters, eta_min=1e-7, by_epoch=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_best=None))
