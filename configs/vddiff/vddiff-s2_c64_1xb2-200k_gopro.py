# VD-Diff stage 2 on GoPro, as the official train_GoPro_S2.yml: the prior diffusion DM (condition
# encoder + denoiser MLP, 4 steps) learns to produce stage 1's prior from the blurry frames
# (Charbonnier between the two priors); LE and WADT come from stage 1 and stay frozen (only DM
# is optimised). AdamW 8e-5 (wd 4e-5), constant over 200k iterations (the official MultiStepLR
# milestone, 300k, lies beyond the run).
# Loading: the last checkpoint of the stage-1 work dir; every LE/WADT key must be there, DM
# must not (init_fresh), nothing else may be.
_base_ = ['./vddiff-s1_c64_1xb2-300k_gopro.py']

experiment_name = 'vddiff-s2_c64_1xb2-200k_gopro'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    generator=dict(stage='s2'),
    fft_loss=None,
    init_from='./work_dirs/vddiff-s1_c64_1xb2-300k_gopro',
    init_fresh=('dm', ))

max_iters = 200_000
train_cfg = dict(max_iters=max_iters)
param_scheduler = dict(_delete_=True, type='ConstantLR', factor=1.0, by_epoch=False)
