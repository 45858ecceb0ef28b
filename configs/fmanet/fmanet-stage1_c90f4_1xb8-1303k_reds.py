# FMA-Net stage 1 on REDS (x4 VSRDB): the degradation learning network NetD alone, trained to
# reconstruct the blurry LR centre frame from the sharp HR window by flow-guided dynamic
# downsampling (plus HR-warping, pseudo-GT flow and temporal-anchor losses). The official
# recipe (experiment.cfg, train.py): batch 8 of 3-frame windows, HR patches 256 / LR 64,
# Adam 2e-4, 400 epochs with the lr halved at epochs 260/360/380/390, validation every 5 epochs.
# One official epoch is every 3-frame window of the 266 training clips once: 266 * 98 windows
# / 8 = 3,258 iterations, so 400 epochs = 1,303,200 iterations.
# Validation scores NetD's reconstruction of the blurry LR frames (the official stage-1 metric).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/reds_vsrdb.py',
]
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'fmanet-stage1_c90f4_1xb8-1303k_reds'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    type='FMANetVSRDB',
    generator=dict(type='FMANet', stage=1),
    # the official weights (experiment.cfg); stage 1 uses recon, hr_warp, flow and ta_d
    loss_weights=dict(recon=1.0, hr_warp=0.1, flow=1e-4, ta_d=0.1),
    test_cfg=dict(window_batch=8, temporal_padding='replicate'),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.],
                           data_keys=['gt_img', 'gt_lr']))

iters_per_epoch = 3258
max_iters = 400 * iters_per_epoch
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5 * iters_per_epoch)
val_cfg = dict(type='MultiValLoop')
test_cfg = dict(type='MultiTestLoop')

# NetD's reconstruction of the blurry input (the model's prediction in stage 1) vs the input
val_evaluator = dict(
    type='Evaluator',
    metrics=[dict(type='VideoPSNR', gt_key='input', exclude_frames=1, prefix='recon')])
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=False, gamma=0.5,
                       milestones=[e * iters_per_epoch for e in (260, 360, 380, 390)])

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(interval=5 * iters_per_epoch, max_keep_ckpts=5, save_best='recon/PSNR',
                    rule='greater'))
