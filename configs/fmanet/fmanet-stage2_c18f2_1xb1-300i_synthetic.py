# Stage 2 of the tiny FMA-Net: NetD from the tiny stage 1's work dir (its best checkpoint),
# fine-tuned with NetR; tested on whole synthetic clips by sliding 3-frame windows with
# FMA-Net's protocol (first/last frame excluded, 4-px crop, RGB/Y PSNR, SSIM, tOF).
_base_ = ['./fmanet-stage1_c18f2_1xb1-300i_synthetic.py']

experiment_name = 'fmanet-stage2_c18f2_1xb1-300i_synthetic'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    generator=dict(stage=2),
    loss_weights=dict(_delete_=True, recon=1.0, hr_warp=0.1, flow=1e-4, ta_d=0.1, lr_warp=0.1,
                      ta_r=0.1, net_d=0.1),
    pixel_loss=dict(type='L1Loss', loss_weight=1.0, reduction='mean'),
    init_net_d_from='./work_dirs/fmanet-stage1_c18f2_1xb1-300i_synthetic')

val_evaluator = {{_base_.vsrdb_evaluator}}
test_evaluator = val_evaluator

default_hooks = dict(checkpoint=dict(save_best='PSNR'))
