# BSSTNet on DVD, as the official options/train/BSST/dvd_BSST.yml: the GoPro settings with the
# flow refiner at x0.25 of the learning rate (GoPro: x0.1).
_base_ = ['./bsstnet_c192_8xb1-600k_gopro.py']

experiment_name = 'bsstnet_c192_8xb1-600k_dvd'
work_dir = f'./work_dirs/{experiment_name}'

data_root = 'data/DVD'
train_dataloader = dict(dataset=dict(data_root=data_root + '/train', layout='dvd'))
val_dataloader = dict(dataset=dict(data_root=data_root + '/test', layout='dvd'))
test_dataloader = val_dataloader

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'blur_motion_refine': dict(lr_mult=0.25)}))
