# DIVD on GoPro. From the paper (arXiv 2412.00773): a 2-D conv UNet of ResBlocks with WTSA + MRPE
# at every level, window sizes [4, 3, 2, 1], 4 frames denoised together, the blurry frames
# concatenated to the noisy ones, DDPM training with Adam, random 144x144 crops, linear warm-up,
# 1M iterations. Ours (the paper gives no number; configs/divd/README.md): the UNet's widths
# (64 x [1, 2, 3, 4], 2 ResBlocks per level, 32-channel heads), window sizes counted in feature
# pixels of each level, 1000 timesteps with linear betas 1e-4..0.02, epsilon prediction, MSE,
# lr 1e-4 with 5k warm-up iterations, EMA 0.9999, batch 2 per GPU on 8 GPUs, 50 DDIM steps at
# test time; whole test videos in 4-frame clips overlapping by 2 (averaged), 256-px tiles.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/gopro_video_deblur.py',
]
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'divd_c64_8xb2-1000k_gopro'
work_dir = f'./work_dirs/{experiment_name}'

schedule = dict(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule='linear',
                prediction_type='epsilon', clip_sample=True)
model = dict(
    type='DIVD',
    generator=dict(
        type='DIVDUNet',
        num_frames=4,
        base_channels=64,
        channel_mults=(1, 2, 3, 4),
        num_res_blocks=2,
        window_sizes=(4, 3, 2, 1),
        head_channels=32,
        dropout=0.0,
        frame_encoding=True,
        relative_bias=True),
    pixel_loss=dict(type='MSELoss', loss_weight=1.0, reduction='mean'),
    train_scheduler=dict(type='DDPMScheduler', **schedule),
    test_scheduler=dict(type='DDIMScheduler', **schedule),
    num_inference_steps=50,
    sample_seed=0,
    test_cfg=dict(chunk_overlap=2, blend='average', tile=256, tile_overlap=32),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.]))

train_pipeline = [
    dict(type='SampleVideoClip', interval_list=[1]),
    dict(type='LoadVideoFrames', key='img', channel_order='rgb'),
    dict(type='LoadVideoFrames', key='gt', channel_order='rgb'),
    dict(type='SetValues', dictionary=dict(scale=1)),
    dict(type='PairedRandomCrop', gt_patch_size=144),
    dict(type='Flip', keys=['img', 'gt'], flip_ratio=0.5, direction='horizontal'),
    dict(type='Flip', keys=['img', 'gt'], flip_ratio=0.5, direction='vertical'),
    dict(type='RandomTransposeHW', keys=['img', 'gt'], transpose_ratio=0.5),
    dict(type='PackInputs')
]
train_dataloader = dict(
    num_workers=4, batch_size=2, dataset=dict(num_input_frames=4, pipeline=train_pipeline))
# validation: a quick check on the first 16 clips of 8 frames of the test set (sampling every
# frame of GoPro's test set takes hours); the test scores every frame of every sequence
val_dataloader = dict(dataset=dict(clips=dict(frames=8, overlap=0), indices=16))
test_dataloader = dict(dataset=dict(clips=None))

# perceptual metrics next to PSNR/SSIM: local weights (nothing is downloaded; see the README)
lpips_backbone = 'checkpoints/metrics/alexnet-owt-7be5be79.pth'
inception = 'checkpoints/metrics/inception-2015-12-05.pt'
val_evaluator = dict(
    type='Evaluator', metrics=[dict(type='VideoPSNR'), dict(type='VideoSSIM')])
test_evaluator = dict(
    type='Evaluator',
    metrics=[
        dict(type='VideoPSNR'),
        dict(type='VideoSSIM'),
        dict(type='VideoLPIPS', backbone_path=lpips_backbone),
        dict(type='VideoFIDKID', inception_path=inception),
    ])

max_iters = 1_000_000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=50_000)
val_cfg = dict(type='MultiValLoop')
test_cfg = dict(type='MultiTestLoop')

optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999)))
param_scheduler = dict(
    type='LinearLR', start_factor=1e-3, end=5000, by_epoch=False)  # then constant

custom_hooks = [
    dict(type='RandomStatesHook'),
    dict(type='SequenceProgressHook'),
    dict(type='SaveRestoredFramesHook'),
    dict(type='VideoVisualizationHook', num_frames=3, max_sequences=4),
    # diffusion models sample from the weights' moving average (DDPM); validation and
    # testing use it (mmengine swaps it in), checkpoints keep both
    dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL'),
]
default_hooks = dict(checkpoint=dict(interval=10_000, save_best='PSNR', rule='greater'))
