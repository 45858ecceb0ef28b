# GoPro (GOPRO_Large): <root>/{train,test}/<seq>/{blur,sharp}/*.png
_base_ = ['./video_deblur_common.py']

dataset_type = 'VideoDeblurDataset'
data_root = 'data/GOPRO_Large'

train_dataloader = dict(
    num_workers=6,
    batch_size=1,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root + '/train',
        layout='gopro',
        num_input_frames=30,
        pipeline={{_base_.train_pipeline}}))

val_dataloader = dict(
    num_workers=1,
    batch_size=1,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root + '/test',
        layout='gopro',
        test_mode=True,
        pipeline={{_base_.test_pipeline}}))

test_dataloader = val_dataloader
