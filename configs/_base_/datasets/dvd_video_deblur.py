# DVD (DeepVideoDeblurring), split into train/test folders:
# <root>/{train,test}/<seq>/{input,GT}/*.jpg
_base_ = ['./video_deblur_common.py']

dataset_type = 'VideoDeblurDataset'
data_root = 'data/DVD'

train_dataloader = dict(
    num_workers=6,
    batch_size=1,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root + '/train',
        layout='dvd',
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
        layout='dvd',
        test_mode=True,
        pipeline={{_base_.test_pipeline}}))

test_dataloader = val_dataloader
