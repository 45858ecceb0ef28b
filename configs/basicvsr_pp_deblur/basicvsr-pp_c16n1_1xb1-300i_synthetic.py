# A tiny BasicVSR++ deblurring config for the synthetic GoPro-style data
# (tools/generate_synthetic_data.py). It is what `make demo` trains for a few CPU minutes and
# what the tests drive through the Runner; the architecture is the GoPro config's, smaller.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/adam_cosine_600k.py',
    '../_base_/datasets/synthetic_video_deblur.py',
]
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'basicvsr-pp_c16n1_1xb1-300i_synthetic'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    type='BasicVSR',
    generator=dict(
        type='BasicVSRPlusPlusNet',
        mid_channels=16,
        num_blocks=1,
        is_low_res_input=False,
        spynet_pretrained=None),
    # MSE, not the GoPro config's Charbonnier: in a few hundred steps an L1-type loss keeps
    # the model at the identity (most residuals are small, and L1 follows their median); MSE
    # learns the sharpening within the demo's budget (measured: docs/demo.md)
    pixel_loss=dict(type='MSELoss', loss_weight=1.0, reduction='mean'),
    train_cfg=dict(fix_iter=0),
    # Start from the identity (zero last conv: output = input), so the few CPU minutes go to
    # learning the deblurring, not to unlearning a random residual.
    init_cfg=dict(type='ZeroInitSubmodules', names=['generator.conv_last']),
    test_cfg=dict(inference_spec=dict(mode='sequence', size_multiple=4, min_size=256)),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.]))

train_dataloader = dict(num_workers=0, batch_size=1, dataset=dict(num_input_frames=3))
val_dataloader = dict(num_workers=0)
test_dataloader = val_dataloader

max_iters = 300
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, betas=(0.9, 0.99)))
param_scheduler = dict(
    type='CosineRestartLR', by_epoch=False, periods=[max_iters], restart_weights=[1],
    eta_min=1e-5)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_best=None))

# the demo's numbers (docs/demo.md) are reproducible
randomness = dict(seed=0)
