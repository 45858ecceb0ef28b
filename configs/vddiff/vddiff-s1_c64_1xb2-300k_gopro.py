# VD-Diff stage 1 on GoPro, as the official options/train/train_GoPro_S1.yml: the latent encoder
# LE (blurry + sharp frames) and WADT trained together; 15-frame clips, 256 crops, flips and
# transposes, 2 clips per GPU on 1 GPU, Charbonnier + 0.1 x FFT-L1, AdamW 8e-5 (wd 4e-5),
# cosine annealing to 1e-7 over 300k iterations.
# Test: the official protocol, 30-frame clips without overlap (the last one aligned to the
# sequence end, so its overlap is scored twice), metrics per clip then averaged, RGB, no crop.
# The clean protocol (every frame once, whole sequences in 30-frame chunks):
#   --cfg-options test_dataloader.dataset.clips=None val_dataloader.dataset.clips=None
# A stage-1 model sees the sharp frames (LE): its validation scores WADT under LE's prior.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/gopro_video_deblur.py',
]
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'vddiff-s1_c64_1xb2-300k_gopro'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    type='VDDiffDeblur',
    generator=dict(
        type='VDDiffNet',
        stage='s1',
        mid_channels=64,
        num_blocks=(7, 2),
        heads=(4, 8),
        propagation_blocks=30,
        prior_channels=256,
        encoder_channels=64,
        encoder_blocks=6,
        # 'double': net + 2 * lq, as the official network computes (needed by its weights)
        output_residual='double'),
    pixel_loss=dict(type='CharbonnierLoss', loss_weight=1.0, reduction='mean', eps=1e-12),
    fft_loss=dict(type='FFTL1Loss', loss_weight=0.1),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.]))

# the base's train pipeline: 256 crops, horizontal/vertical flips, transposes
train_dataloader = dict(num_workers=4, batch_size=2, dataset=dict(num_input_frames=15))
val_dataloader = dict(dataset=dict(clips=dict(frames=30, overlap=0)))
test_dataloader = val_dataloader

max_iters = 300_000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
val_cfg = dict(type='MultiValLoop')
test_cfg = dict(type='MultiTestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=8e-5, betas=(0.9, 0.999), weight_decay=4e-5))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=max_iters, eta_min=1e-7, by_epoch=False)

default_hooks = dict(checkpoint=dict(interval=5000, save_best='PSNR', rule='greater'))
