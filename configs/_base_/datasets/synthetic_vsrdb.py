# Synthetic x4 VSRDB data (GoPro-style clips plus x4-downsampled frames, layout 'gopro_x4'):
#   python tools/generate_synthetic_data.py data/synthetic_vsrdb --size 256 256 --lr-scale 4
#   python tools/generate_pseudo_flows.py data/synthetic_vsrdb/train --layout gopro_x4 \
#       --estimator dis
# <root>/{train,test}/<seq>/{blur,sharp,blur_x4,sharp_x4}/*.png, <root>/train/<seq>/flow_x4/*.npy
# Model configs override the patch size (ScaledPairedRandomCrop.gt_patch_size) to fit the frames.
_base_ = ['./vsrdb_common.py']

dataset_type = 'VideoDeblurDataset'
data_root = 'data/synthetic_vsrdb'

train_dataloader = dict(
    num_workers=2,
    batch_size=1,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root + '/train',
        layout='gopro_x4',
        extra_frames=['sharp_lr'],
        with_flows=True,
        num_input_frames=3,
        pipeline={{_base_.vsrdb_train_pipeline}}))

val_dataloader = dict(
    num_workers=1,
    batch_size=1,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root + '/test',
        layout='gopro_x4',
        test_mode=True,
        pipeline={{_base_.vsrdb_test_pipeline}}))

test_dataloader = val_dataloader
val_evaluator = {{_base_.vsrdb_evaluator}}
test_evaluator = val_evaluator
