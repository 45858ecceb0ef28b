# The demo model (checkpoints/demo/, `make demo`): mmagic's NAFNet (16 channels, one block per
# stage) restoring every frame on its own (FrameByFrameRestorer), trained on the synthetic
# generator's wide variety (blur from none to strong, moving objects, exposure, noise) with
# `python tools/train_demo_model.py`. Chosen by training speed on a CPU (docs/demo.md): 96-px
# crops in batches of 8 take about 0.6 s per step on 2 cores, against 2 s for batches of 4
# with a 32-channel EDVR, whose deformable-convolution backward pass dominates on the CPU.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/adam_cosine_600k.py',
    '../_base_/datasets/synthetic_video_deblur.py',
]
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'nafnet-frames_c16_1xb8-demo_synthetic'
work_dir = f'./work_dirs/{experiment_name}'
data_root = 'data/demo_model_synthetic'

model = dict(
    type='FrameByFrameRestorer',
    generator=dict(
        type='FrameByFrameNet',
        image_net=dict(
            type='NAFNet',
            img_channels=3,
            mid_channels=16,
            enc_blk_nums=[1, 1, 1, 1],
            middle_blk_num=1,
            dec_blk_nums=[1, 1, 1, 1]),
        size_multiple=16),
    # minus the PSNR per crop, saturating at 40 dB (docs/demo.md): MSE learned to deblur but
    # damaged sharp clips (-5.7 dB at 500 iterations); mmagic's PSNRLoss (floor at 80 dB)
    # stayed at the identity; an L1-type loss follows the median residual, zero, and stays
    # at the identity too
    pixel_loss=dict(type='SaturatedPSNRLoss', loss_weight=1.0, max_psnr=40.0),
    # start at the identity (NAFNet adds its last conv's output to the input): no random
    # residual to unlearn
    init_cfg=dict(type='ZeroInitSubmodules', names=['generator.net.ending']),
    test_cfg=dict(window_batch=4),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.]))

train_pipeline = [
    dict(type='SampleVideoClip', interval_list=[1], gt_frames='centre'),
    dict(type='LoadVideoFrames', key='img', channel_order='rgb'),
    dict(type='LoadVideoFrames', key='gt', channel_order='rgb'),
    dict(type='SetValues', dictionary=dict(scale=1)),
    dict(type='PairedRandomCrop', gt_patch_size=96),
    dict(type='Flip', keys=['img', 'gt'], flip_ratio=0.5, direction='horizontal'),
    dict(type='Flip', keys=['img', 'gt'], flip_ratio=0.5, direction='vertical'),
    dict(type='RandomTransposeHW', keys=['img', 'gt'], transpose_ratio=0.5),
    dict(type='PackInputs')
]

train_dataloader = dict(
    num_workers=0,
    batch_size=8,
    dataset=dict(data_root=data_root + '/train', num_input_frames=1, pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, dataset=dict(data_root=data_root + '/test'))
test_dataloader = val_dataloader

max_iters = 1800
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, betas=(0.9, 0.99)))
param_scheduler = dict(
    type='CosineRestartLR', by_epoch=False, periods=[max_iters], restart_weights=[1],
    eta_min=1e-6)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(interval=500, max_keep_ckpts=2, save_best=None))

randomness = dict(seed=0)
