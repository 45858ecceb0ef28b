# Stage 3 of the tiny VD-Diff: everything, WADT under the diffusion's prior, Charbonnier only,
# from the tiny stage 2's work dir (strictly: every key).
_base_ = ['./vddiff-s2_c16_1xb1-300i_synthetic.py']

experiment_name = 'vddiff-s3_c16_1xb1-300i_synthetic'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    generator=dict(stage='s3'),
    init_from='./work_dirs/vddiff-s2_c16_1xb1-300i_synthetic',
    init_fresh=(),
    prior_seed=0)
