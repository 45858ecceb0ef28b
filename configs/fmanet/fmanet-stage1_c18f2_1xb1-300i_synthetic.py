# A tiny FMA-Net stage 1 (NetD alone) for the synthetic x4 VSRDB data and tests: every component
# of the REDS network (RRDB, FRMA blocks with multi-flow-mask warping and CO attention, FGDF
# downsampling with a joint softmax over T * kd^2 taps, the TA loss) at 18 channels, 2 FRMA
# blocks, 3 flow-mask pairs, kd 8 and kr 3. Data (tools/generate_synthetic_data.py --lr-scale 4
# and tools/generate_pseudo_flows.py --estimator dis, see configs/_base_/datasets/
# synthetic_vsrdb.py): HR 64-px patches, LR 16 px.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/synthetic_vsrdb.py',
]
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'fmanet-stage1_c18f2_1xb1-300i_synthetic'
work_dir = f'./work_dirs/{experiment_name}'

tiny_fmanet = dict(
    type='FMANet', stage=1, dim=18, num_frames=3, degradation_kernel_size=8,
    restoration_kernel_size=3, num_rdb=2, growth_rate=6, num_dense_layers=2, num_flows=3,
    num_frma=2, num_attn_blocks=1, num_heads=2)
model = dict(
    type='FMANetVSRDB',
    generator=tiny_fmanet,
    loss_weights=dict(recon=1.0, hr_warp=0.1, flow=1e-4, ta_d=0.1),
    test_cfg=dict(window_batch=4, temporal_padding='replicate'),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.],
                           data_keys=['gt_img', 'gt_lr']))

train_pipeline = [
    dict(type='SampleVideoClip', num_frames=3, interval_list=[1]),
    dict(type='LoadVideoFrames', key='img', channel_order='rgb'),
    dict(type='LoadVideoFrames', key='gt', channel_order='rgb', scale=4),
    dict(type='LoadVideoFrames', key='gt_lr', channel_order='rgb'),
    dict(type='LoadPseudoFlows', key='gt_flow'),
    dict(type='ScaledPairedRandomCrop', gt_patch_size=64, scale=4,
         lq_keys=['img', 'gt_lr', 'gt_flow'], gt_keys=['gt']),
    dict(type='FlipWithFlow', keys=['img', 'gt', 'gt_lr'], flow_keys=['gt_flow'],
         flip_ratio=0.5, direction='horizontal'),
    dict(type='FlipWithFlow', keys=['img', 'gt', 'gt_lr'], flow_keys=['gt_flow'],
         flip_ratio=0.5, direction='vertical'),
    dict(type='PackInputs', data_keys=['gt_lr', 'gt_flow'],
         meta_keys=['key', 'gt_lr_channel_order'])
]
train_dataloader = dict(num_workers=0, batch_size=1, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0)
test_dataloader = val_dataloader

val_evaluator = dict(
    type='Evaluator',
    metrics=[dict(type='VideoPSNR', gt_key='input', exclude_frames=1, prefix='recon')])
test_evaluator = val_evaluator

max_iters = 300
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='MultiValLoop')
test_cfg = dict(type='MultiTestLoop')

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=False, gamma=0.5,
                       milestones=[int(max_iters * f) for f in (0.65, 0.9, 0.95, 0.975)])

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_best='recon/PSNR',
                    rule='greater'))
