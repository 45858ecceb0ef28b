# A tiny two-stage EDVR cascade for the synthetic data (tests and CPU demos): stage 1 is the model
# of ./edvr-deblur_c16b1_1xb1-300i_synthetic.py (frozen; point model.stage1_checkpoint at its
# trained checkpoint), stage 2 the same tiny EDVR.
_base_ = ['./edvr-deblur_c16b1_1xb1-300i_synthetic.py']
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'edvr-deblur-stage2_c16b1_1xb1-300i_synthetic'
work_dir = f'./work_dirs/{experiment_name}'

stage1_checkpoint = None

model = dict(
    _delete_=True,
    type='CascadeRestorer',
    stage1={{_base_.model}},
    stage1_checkpoint=stage1_checkpoint,
    freeze_stage1=True,
    generator=dict(
        type='EDVRDeblurNet',
        in_channels=3,
        out_channels=3,
        mid_channels=16,
        num_frames=3,
        deform_groups=2,
        num_extract_block=1,
        num_reconstruct_block=1,
        hr_in=True,
        with_predeblur=True,
        with_tsa=True),
    pixel_loss=dict(type='CharbonnierLoss', loss_weight=1.0, reduction='sum'),
    test_cfg=dict(window_batch=4),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.]))

# 3 + 3 - 1 frames: real stage-1 context for every frame stage 2 fuses
train_dataloader = dict(dataset=dict(num_input_frames=5))

find_unused_parameters = False
