# BSD (e.g. BSD_2ms16ms): <root>/{train,valid,test}/<seq>/{Blur,Sharp}/RGB/*.png
_base_ = ['./video_deblur_common.py']

dataset_type = 'VideoDeblurDataset'
data_root = 'data/BSD/BSD_2ms16ms'

train_dataloader = dict(
    num_workers=6,
    batch_size=1,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root + '/train',
        layout='bsd',
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
        layout='bsd',
        test_mode=True,
        pipeline={{_base_.test_pipeline}}))

test_dataloader = val_dataloader
