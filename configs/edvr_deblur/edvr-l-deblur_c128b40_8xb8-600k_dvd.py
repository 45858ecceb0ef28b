# EDVR-L deblur (as ./edvr-l-deblur_c128b40_8xb8-600k_reds4.py) trained and tested on DVD
# (<root>/{train,test}/<seq>/{input,GT}). EDVR published no DVD setting: the REDS recipe is used
# unchanged.
_base_ = ['./edvr-l-deblur_c128b40_8xb8-600k_reds4.py']
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'edvr-l-deblur_c128b40_8xb8-600k_dvd'
work_dir = f'./work_dirs/{experiment_name}'

data_root = 'data/DVD'
train_dataloader = dict(
    dataset=dict(data_root=data_root + '/train', layout='dvd', exclude_sequences=None))
val_dataloader = dict(
    dataset=dict(data_root=data_root + '/test', layout='dvd', sequences=None))
test_dataloader = val_dataloader
