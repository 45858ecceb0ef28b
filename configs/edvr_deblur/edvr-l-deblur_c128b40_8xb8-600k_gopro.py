# EDVR-L deblur (as ./edvr-l-deblur_c128b40_8xb8-600k_reds4.py) trained and tested on GoPro
# (GOPRO_Large: <root>/{train,test}/<seq>/{blur,sharp}). EDVR published no GoPro setting: the
# REDS recipe is used unchanged.
_base_ = ['./edvr-l-deblur_c128b40_8xb8-600k_reds4.py']
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'edvr-l-deblur_c128b40_8xb8-600k_gopro'
work_dir = f'./work_dirs/{experiment_name}'

data_root = 'data/GOPRO_Large'
train_dataloader = dict(
    dataset=dict(data_root=data_root + '/train', layout='gopro', exclude_sequences=None))
val_dataloader = dict(
    dataset=dict(data_root=data_root + '/test', layout='gopro', sequences=None))
test_dataloader = val_dataloader
