# EDVR two-stage deblurring, stage 2 (as ./edvr-l-deblur-stage2_c128b20_8xb8-600k_reds4.py) on
# DVD; stage 1 is ./edvr-l-deblur_c128b40_8xb8-600k_dvd.py, its checkpoint set with
#   --cfg-options \
#   model.stage1_checkpoint=work_dirs/edvr-l-deblur_c128b40_8xb8-600k_dvd/iter_600000.pth
_base_ = ['./edvr-l-deblur-stage2_c128b20_8xb8-600k_reds4.py']
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'edvr-l-deblur-stage2_c128b20_8xb8-600k_dvd'
work_dir = f'./work_dirs/{experiment_name}'

data_root = 'data/DVD'
train_dataloader = dict(
    dataset=dict(data_root=data_root + '/train', layout='dvd', exclude_sequences=None))
val_dataloader = dict(
    dataset=dict(data_root=data_root + '/test', layout='dvd', sequences=None))
test_dataloader = val_dataloader
