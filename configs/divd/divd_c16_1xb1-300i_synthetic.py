# A tiny DIVD for the synthetic GoPro-style data (tools/generate_synthetic_data.py), for tests
# and CPU runs: the GoPro architecture (UNet with WTSA + MRPE after every ResBlock, 4 frames)
# with 16 channels, 2 levels, 1 ResBlock per level, windows (2, 1); 100 training timesteps,
# 10 DDIM steps; 4-frame clips of 32 px.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/synthetic_video_deblur.py',
]
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'divd_c16_1xb1-300i_synthetic'
work_dir = f'./work_dirs/{experiment_name}'

schedule = dict(num_train_timesteps=100, beta_start=1e-3, beta_end=0.2, beta_schedule='linear',
                prediction_type='epsilon', clip_sample=True)
model = dict(
    type='DIVD',
    generator=dict(
        type='DIVDUNet',
        num_frames=4,
        base_channels=16,
        channel_mults=(1, 2),
        num_res_blocks=1,
        window_sizes=(2, 1),
        head_channels=16,
        norm_groups=8),
    pixel_loss=dict(type='MSELoss', loss_weight=1.0, reduction='mean'),
    train_scheduler=dict(type='DDPMScheduler', **schedule),
    test_scheduler=dict(type='DDIMScheduler', **schedule),
    num_inference_steps=10,
    sample_seed=0,
    test_cfg=dict(chunk_overlap=2, blend='average'),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.]))

train_pipeline = [
    dict(type='SampleVideoClip', interval_list=[1]),
    dict(type='LoadVideoFrames', key='img', channel_order='rgb'),
    dict(type='LoadVideoFrames', key='gt', channel_order='rgb'),
    dict(type='SetValues', dictionary=dict(scale=1)),
    dict(type='PairedRandomCrop', gt_patch_size=32),
    dict(type='Flip', keys=['img', 'gt'], flip_ratio=0.5, direction='horizontal'),
    dict(type='PackInputs')
]
train_dataloader = dict(
    num_workers=0, batch_size=1, dataset=dict(num_input_frames=4, pipeline=train_pipeline))
val_dataloader = dict(num_workers=0)
test_dataloader = val_dataloader

max_iters = 300
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='MultiValLoop')
test_cfg = dict(type='MultiTestLoop')

optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3, betas=(0.9, 0.999)))
param_scheduler = dict(type='LinearLR', start_factor=1e-2, end=30, by_epoch=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_best=None))
