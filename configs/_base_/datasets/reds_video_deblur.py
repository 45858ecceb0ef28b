# REDS deblur track: <root>/train_blur/<seq>, <root>/train_sharp/<seq>; REDS4 (000, 011, 015, 020)
# is held out of training and used for validation/testing, as in EDVR/BasicSR
_base_ = ['./video_deblur_common.py']

dataset_type = 'VideoDeblurDataset'
data_root = 'data/REDS'

train_dataloader = dict(
    num_workers=6,
    batch_size=1,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        layout='reds', exclude_sequences=['000', '011', '015', '020'],
        num_input_frames=30,
        pipeline={{_base_.train_pipeline}}))

val_dataloader = dict(
    num_workers=1,
    batch_size=1,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        layout='reds', sequences=['000', '011', '015', '020'],
        test_mode=True,
        pipeline={{_base_.test_pipeline}}))

test_dataloader = val_dataloader
