# GoPro x4 for joint super-resolution + deblurring (FMA-Net++'s cross-dataset test), test only:
#   <root>/test/<seq>/blur_x4/*.png   LR blurry input (x4 bicubic-downsampled blurry frames)
#   <root>/test/<seq>/sharp/*.png     HR sharp ground truth
# Make the LR frames once with
#   python tools/prepare_dataset.py data/GOPRO_Large/test --layout gopro --downsample 4
# (MATLAB-like bicubic, as REDS' X4 frames; --resize-method cv2 for cv2.INTER_CUBIC).
_base_ = ['./vsrdb_common.py']

dataset_type = 'VideoDeblurDataset'
data_root = 'data/GOPRO_Large'

test_dataloader = dict(
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

test_evaluator = {{_base_.vsrdb_evaluator}}
