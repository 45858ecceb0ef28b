# VD-Diff stage 1 on BSD (2ms16ms): our choice, since the official code has dataset classes but no
# configs for it: the GoPro settings (vddiff-s1_c64_1xb2-300k_gopro.py) on this layout.
_base_ = ['./vddiff-s1_c64_1xb2-300k_gopro.py']

experiment_name = 'vddiff-s1_c64_1xb2-300k_bsd'
work_dir = f'./work_dirs/{experiment_name}'

data_root = 'data/BSD/BSD_2ms16ms'
train_dataloader = dict(dataset=dict(data_root=data_root + '/train', layout='bsd'))
val_dataloader = dict(dataset=dict(data_root=data_root + '/test', layout='bsd'))
test_dataloader = val_dataloader
