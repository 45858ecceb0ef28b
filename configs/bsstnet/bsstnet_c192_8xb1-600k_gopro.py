# BSSTNet on GoPro, as the official options/train/BSST/gopro_BSST.yml: 24-frame clips, 256
# crops, flips/rotations, L1, AdamW 4e-4 (the official code builds AdamW although its config
# says Adam) with lower rates for the flow refiner (x0.1), offsets (x0.25) and the soft
# split/composition (x0.5), gradient-norm clip 0.01, 1000 warm-up iterations then cosine
# annealing to 1e-7 over 600k iterations, AMP; 8 GPUs x 1 clip.
# Test: whole videos in 48-frame chunks overlapping by 4, 256-px tiles overlapping by 64,
# first/last 2 frames of each video not scored, PSNR on RGB, SSIM as the official
# (3-D Gaussian) and standard.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/gopro_video_deblur.py',
]
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'bsstnet_c192_8xb1-600k_gopro'
work_dir = f'./work_dirs/{experiment_name}'

# Frozen RAFT. Nothing is downloaded: put the official raft-things.pth (princeton-vl layout)
# or torchvision's raft_large C+T weights here. Without RAFT weights use
# dict(type='DISFlowEstimator') (OpenCV, no weights; flows differ from the paper's).
raft_checkpoint = 'checkpoints/raft-things.pth'

model = dict(
    type='BSSTNetDeblur',
    generator=dict(
        type='BSSTNet',
        mid_channels=192,
        enc_channels=64,
        max_residue_magnitude=5,
        transformer_cfg=dict(
            embed_dim=512, num_heads=4, window_size=(8, 8), pool_size=(4, 4), depth=4,
            threshold=0.3, num_selected='half', alternate=True,
            # True reproduces the official in-place selection bug (layers 2-4 select frames
            # by ties): set it to evaluate converted official weights
            official_aliasing=False)),
    flow_estimator=dict(type='RAFTFlowEstimator', checkpoint=raft_checkpoint,
                        num_flow_updates=20),
    pixel_loss=dict(type='L1Loss', loss_weight=1.0, reduction='mean'),
    test_cfg=dict(chunk_frames=48, chunk_overlap=4, tile=256, tile_overlap=64, amp=True),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.]))

train_dataloader = dict(num_workers=8, batch_size=1, dataset=dict(num_input_frames=24))

val_evaluator = dict(
    type='Evaluator',
    metrics=[
        dict(type='VideoPSNR', exclude_frames=2),
        dict(type='VideoSSIM', exclude_frames=2, gaussian_3d=True, prefix='official'),
        dict(type='VideoSSIM', exclude_frames=2),
    ])
test_evaluator = val_evaluator

max_iters = 600_000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
val_cfg = dict(type='MultiValLoop')
test_cfg = dict(type='MultiTestLoop')

# the frozen RAFT weights are (non-persistent) buffers, equal on every rank, and the network's
# buffers are constants: nothing to broadcast before every forward
# find_unused_parameters: without it a 2-process run of the tiny config hung after its first
# iteration (most likely the clip-dependent token selection leaves a rank's parameters without
# gradients in some iterations)
model_wrapper_cfg = dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=True)

optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=4e-4, betas=(0.9, 0.99), weight_decay=0),
    clip_grad=dict(max_norm=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'blur_motion_refine': dict(lr_mult=0.1),
            'conv_offset': dict(lr_mult=0.25),
            'softsplit': dict(lr_mult=0.5),
            'softcomp': dict(lr_mult=0.5),
        }))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min=1e-7, by_epoch=False, begin=0,
         end=max_iters),
]

default_hooks = dict(checkpoint=dict(interval=5000, save_best='PSNR', rule='greater'))
