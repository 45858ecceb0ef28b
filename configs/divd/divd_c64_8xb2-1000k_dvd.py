# DIVD on DVD: the GoPro config's model, training and test settings (the paper trains both
# datasets alike) on DVD's layout, <root>/{train,test}/<seq>/{input,GT}/*.jpg.
_base_ = ['./divd_c64_8xb2-1000k_gopro.py']

experiment_name = 'divd_c64_8xb2-1000k_dvd'
work_dir = f'./work_dirs/{experiment_name}'
data_root = 'data/DVD'

train_dataloader = dict(dataset=dict(data_root=data_root + '/train', layout='dvd'))
val_dataloader = dict(dataset=dict(data_root=data_root + '/test', layout='dvd'))
test_dataloader = dict(dataset=dict(data_root=data_root + '/test', layout='dvd'))
