# Second stage of EDVR's two-stage strategy for REDS deblurring: a shallower EDVR (128 channels,
# 5 frames, 8 groups, 5 extraction + 20 reconstruction blocks, pre-deblur, hr_in, TSA: the
# official test script builds EDVR(128, 5, 8, 5, 20, predeblur=True, HR_in=True) for stage 2,
# xinntao/EDVR@3d9fec7 codes/test_Vid4_REDS4_with_GT.py) refines the output of the frozen, trained
# stage-1 EDVR-L. Train stage 1 first, then:
#   python tools/train.py configs/edvr_deblur/edvr-l-deblur-stage2_c128b20_8xb8-600k_reds4.py \
#     --cfg-options \
#     model.stage1_checkpoint=work_dirs/edvr-l-deblur_c128b40_8xb8-600k_reds4/iter_600000.pth
# The paper gives no separate stage-2 training schedule: stage 1's recipe is used (no TSA warm-up).
_base_ = ['./edvr-l-deblur_c128b40_8xb8-600k_reds4.py']
custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)

experiment_name = 'edvr-l-deblur-stage2_c128b20_8xb8-600k_reds4'
work_dir = f'./work_dirs/{experiment_name}'

# path of the trained stage-1 (EDVR-L) checkpoint; None leaves stage 1 untrained (a warning says
# so). Not needed to test a whole cascade checkpoint, which holds both stages.
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
        mid_channels=128,
        num_frames=5,
        deform_groups=8,
        num_extract_block=5,
        num_reconstruct_block=20,
        center_frame_idx=None,
        hr_in=True,
        with_predeblur=True,
        with_tsa=True),
    pixel_loss=dict(type='CharbonnierLoss', loss_weight=1.0, reduction='sum'),
    test_cfg=dict(window_batch=4),
    data_preprocessor=dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.]))

# 5 + 5 - 1 frames: stage 1 sees real neighbours for each of the 5 frames stage 2 fuses
train_dataloader = dict(dataset=dict(num_input_frames=9))

# stage 1 is frozen (requires_grad=False): DDP only tracks stage 2
find_unused_parameters = False
