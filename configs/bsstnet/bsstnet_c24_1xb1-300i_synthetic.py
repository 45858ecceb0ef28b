# A tiny BSSTNet for the synthetic GoPro-style data (tools/generate_synthetic_data.py), for tests
# and CPU runs: the GoPro architecture (flow refiner, blur-aware propagation, 3-D Swin fusion,
# sparse transformer, shift decoder) with 24/16 channels, a 2-layer 32-dim transformer on 4x4
# windows, OpenCV DIS flow (no weights needed), 4-frame clips of 64 px.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/synthetic_video_deblur.py',
]
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'bsstnet_c24_1xb1-300i_synthetic'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    type='BSSTNetDeblur',
    generator=dict(
        type='BSSTNet',
        mid_channels=24,
        enc_channels=16,
        swin_cfg=dict(num_blocks=1, depth=2, num_heads=2, window_size=(2, 4, 4)),
        transformer_cfg=dict(
            embed_dim=32, num_heads=2, window_size=(4, 4), pool_size=(2, 2), depth=2,
            ffn_hidden=75, threshold=0.3)),
    flow_estimator=dict(type='DISFlowEstimator', preset='fast'),
    pixel_loss=dict(type='L1Loss', loss_weight=1.0, reduction='mean'),
    test_cfg=dict(chunk_frames=8, chunk_overlap=2, tile=64, tile_overlap=16, amp=True),
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
val_dataloader = dict(num_workers=0)
test_dataloader = val_dataloader

val_evaluator = dict(
    type='Evaluator',
    metrics=[dict(type='VideoPSNR', exclude_frames=2), dict(type='VideoSSIM', exclude_frames=2)])
test_evaluator = val_evaluator

max_iters = 300
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='MultiValLoop')
test_cfg = dict(type='MultiTestLoop')

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=4e-4, betas=(0.9, 0.99), weight_decay=0),
    paramwise_cfg=dict(
        custom_keys={
            'blur_motion_refine': dict(lr_mult=0.1),
            'conv_offset': dict(lr_mult=0.25),
            'softsplit': dict(lr_mult=0.5),
            'softcomp': dict(lr_mult=0.5),
        }))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=max_iters, eta_min=1e-7, by_epoch=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_best=None))

# as the GoPro config: without find_unused_parameters a 2-process run hung after one iteration
model_wrapper_cfg = dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=True)
