# VD-Diff stage 3 on GoPro, as the official train_GoPro_S3.yml: everything trained jointly, WADT
# modulated by the diffusion's prior (LE's prior only starts the diffusion chain in training);
# Charbonnier only (the official FFT term is commented out); AdamW 8e-5 (wd 4e-5), constant over
# 100k iterations. Loading: the last checkpoint of the stage-2 work dir, strictly (every key).
# Test: the diffusion starts from noise seeded by model.prior_seed (the official: unseeded).
_base_ = ['./vddiff-s2_c64_1xb2-200k_gopro.py']

experiment_name = 'vddiff-s3_c64_1xb2-100k_gopro'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    generator=dict(stage='s3'),
    init_from='./work_dirs/vddiff-s2_c64_1xb2-200k_gopro',
    init_fresh=(),
    prior_seed=0)

max_iters = 100_000
train_cfg = dict(max_iters=max_iters)
