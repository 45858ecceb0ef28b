# FMA-Net stage 2 on REDS (x4 VSRDB): NetD starts from stage 1's best checkpoint and is
# fine-tuned with the restoration network NetR (the restoration L1 loss, 0.1 x every stage-1
# term, the LR-warping and NetR's temporal-anchor losses). Same recipe as stage 1, with a fresh
# optimizer and schedule for both networks: the official train.py steps NetD's scheduler twice
# per epoch and NetR's never, carries NetD's stage-1 scheduler state and never saves a best
# stage-2 checkpoint; none of that is reproduced (configs/fmanet/README.md).
# Test: REDS4 whole sequences by sliding 3-frame windows (first/last frame replicated), frames
# 1..N-2 scored with a 4-px border crop: RGB PSNR, FMA-Net's Y-PSNR, standard Y-PSNR, SSIM, tOF.
_base_ = ['./fmanet-stage1_c90f4_1xb8-1303k_reds.py']

experiment_name = 'fmanet-stage2_c90f4_1xb8-1303k_reds'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    generator=dict(stage=2),
    loss_weights=dict(_delete_=True, recon=1.0, hr_warp=0.1, flow=1e-4, ta_d=0.1, lr_warp=0.1,
                      ta_r=0.1, net_d=0.1),
    pixel_loss=dict(type='L1Loss', loss_weight=1.0, reduction='mean'),
    # the stage-1 work dir (its best_*.pth) or a checkpoint file
    init_net_d_from='./work_dirs/fmanet-stage1_c90f4_1xb8-1303k_reds')

val_evaluator = {{_base_.vsrdb_evaluator}}
test_evaluator = val_evaluator

default_hooks = dict(checkpoint=dict(save_best='PSNR'))
