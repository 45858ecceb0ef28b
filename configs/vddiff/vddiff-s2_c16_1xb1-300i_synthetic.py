# Stage 2 of the tiny VD-Diff: the prior diffusion alone (LE and WADT frozen), from the tiny
# stage 1's work dir (its last checkpoint; DM starts fresh).
_base_ = ['./vddiff-s1_c16_1xb1-300i_synthetic.py']

experiment_name = 'vddiff-s2_c16_1xb1-300i_synthetic'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    generator=dict(stage='s2'),
    fft_loss=None,
    init_from='./work_dirs/vddiff-s1_c16_1xb1-300i_synthetic',
    init_fresh=('dm', ))
