# BasicVSR++ for video deblurring on DVD (official deblur config: 600k iterations); the data
# settings are those of ../_base_/datasets/dvd_video_deblur.py.
_base_ = ['./basicvsr-pp_c64n15_8xb1-200k_gopro.py']
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'basicvsr-pp_c64n15_8xb1-600k_dvd'
work_dir = f'./work_dirs/{experiment_name}'

data_root = 'data/DVD'
train_dataloader = dict(dataset=dict(data_root=data_root + '/train', layout='dvd'))
val_dataloader = dict(dataset=dict(data_root=data_root + '/test', layout='dvd'))
test_dataloader = val_dataloader

train_cfg = dict(type='IterBasedTrainLoop', max_iters=600_000, val_interval=5000)

param_scheduler = dict(
    type='CosineRestartLR', by_epoch=False, periods=[600_000], restart_weights=[1],
    eta_min=1e-7)
