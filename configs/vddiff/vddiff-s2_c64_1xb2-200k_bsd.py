# VD-Diff stage 2 on BSD (2ms16ms) (our choice: the GoPro stage-2 settings),
# from the bsd stage-1 work dir.
_base_ = ['./vddiff-s2_c64_1xb2-200k_gopro.py']

experiment_name = 'vddiff-s2_c64_1xb2-200k_bsd'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(init_from='./work_dirs/vddiff-s1_c64_1xb2-300k_bsd')

data_root = 'data/BSD/BSD_2ms16ms'
train_dataloader = dict(dataset=dict(data_root=data_root + '/train', layout='bsd'))
val_dataloader = dict(dataset=dict(data_root=data_root + '/test', layout='bsd'))
test_dataloader = val_dataloader
