# VD-Diff stage 2 on DVD (our choice: the GoPro stage-2 settings), from the dvd stage-1 work dir.
_base_ = ['./vddiff-s2_c64_1xb2-200k_gopro.py']

experiment_name = 'vddiff-s2_c64_1xb2-200k_dvd'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(init_from='./work_dirs/vddiff-s1_c64_1xb2-300k_dvd')

data_root = 'data/DVD'
train_dataloader = dict(dataset=dict(data_root=data_root + '/train', layout='dvd'))
val_dataloader = dict(dataset=dict(data_root=data_root + '/test', layout='dvd'))
test_dataloader = val_dataloader
