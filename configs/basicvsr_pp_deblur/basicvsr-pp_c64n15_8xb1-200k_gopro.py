# BasicVSR++ for video deblurring on GoPro, as the official BasicVSR++ deblur config
# (ckkelvinchan/BasicVSR_PlusPlus configs/basicvsr_plusplus_deblur_gopro.py) in mmagic 1.x form:
# full-resolution input (is_low_res_input=False), 30-frame clips, 256 crops, 8 GPUs x batch 1.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/adam_cosine_600k.py',
    '../_base_/datasets/gopro_video_deblur.py',
]
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'basicvsr-pp_c64n15_8xb1-200k_gopro'
work_dir = f'./work_dirs/{experiment_name}'

# SPyNet's ImageNet/flow weights are not downloaded at run time: point this at a local copy of
# spynet_20210409-c6c1bd09.pth (from the mmagic model zoo) to train as the paper did.
spynet_pretrained = None

model = dict(
    type='BasicVSR',
    generator=dict(
        type='BasicVSRPlusPlusNet',
        mid_channels=64,
        num_blocks=15,
        is_low_res_input=False,
        spynet_pretrained=spynet_pretrained,
        cpu_cache_length=100),
    pixel_loss=dict(type='CharbonnierLoss', loss_weight=1.0, reduction='mean'),
    train_cfg=dict(fix_iter=5000),
    # BasicVSR++'s full-resolution path runs SPyNet at 1/4 size, which needs >= 64 px there
    test_cfg=dict(inference_spec=dict(mode='sequence', size_multiple=4, min_size=256)),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.]))

train_dataloader = dict(num_workers=6, batch_size=1, dataset=dict(num_input_frames=30))

train_cfg = dict(type='IterBasedTrainLoop', max_iters=200_000, val_interval=5000)

optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99)),
    paramwise_cfg=dict(custom_keys={'spynet': dict(lr_mult=0.25)}))

param_scheduler = dict(
    type='CosineRestartLR', by_epoch=False, periods=[200_000], restart_weights=[1],
    eta_min=1e-7)

# SPyNet is frozen for the first fix_iter iterations
find_unused_parameters = True
