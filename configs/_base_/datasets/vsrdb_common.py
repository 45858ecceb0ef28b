# Pipelines shared by the x4 joint super-resolution + deblurring (VSRDB) datasets, as FMA-Net
# trains and tests: input 'img' = T LR blurry frames; 'gt' = the T HR sharp frames, 'gt_lr' = the
# T LR sharp frames (temporal-anchor loss), 'gt_flow' = pseudo-GT flows centre -> each frame
# (LR pixels, zero for the centre; tools/generate_pseudo_flows.py). Dataset files set data roots
# and layouts; model configs set the clip length and patch size (HR 256 / LR 64 in FMA-Net).
vsrdb_scale = 4

# The model receives inputs (n, T, 3, h, w) and data_samples.gt_img (n, T, 3, 4h, 4w),
# .gt_lr (n, T, 3, h, w) - both in [0, 1] in training with
#   DataPreprocessor(mean=[0, 0, 0], std=[255, 255, 255], data_keys=['gt_img', 'gt_lr'])
# - and .gt_flow (n, T, 2, h, w) float32 in LR pixels, channel 0 = x (never normalised: keep it
# out of the preprocessor's data_keys). All images RGB.
vsrdb_train_pipeline = [
    dict(type='SampleVideoClip', num_frames=3, interval_list=[1]),
    dict(type='LoadVideoFrames', key='img', channel_order='rgb'),
    dict(type='LoadVideoFrames', key='gt', channel_order='rgb', scale=vsrdb_scale),
    dict(type='LoadVideoFrames', key='gt_lr', channel_order='rgb'),
    dict(type='LoadPseudoFlows', key='gt_flow'),
    dict(type='ScaledPairedRandomCrop', gt_patch_size=256, scale=vsrdb_scale,
         lq_keys=['img', 'gt_lr', 'gt_flow'], gt_keys=['gt']),
    # FMA-Net's augment: h/v flips, flows flipped and their x / y component negated; no transpose
    dict(type='FlipWithFlow', keys=['img', 'gt', 'gt_lr'], flow_keys=['gt_flow'],
         flip_ratio=0.5, direction='horizontal'),
    dict(type='FlipWithFlow', keys=['img', 'gt', 'gt_lr'], flow_keys=['gt_flow'],
         flip_ratio=0.5, direction='vertical'),
    # gt_lr and gt_flow are not mmagic data keys: name them; gt_lr_channel_order makes the
    # preprocessor treat gt_lr as it treats gt_img (RGB) also in validation
    dict(type='PackInputs', data_keys=['gt_lr', 'gt_flow'],
         meta_keys=['key', 'gt_lr_channel_order'])
]

# whole sequences, in order: LR blurry input, HR sharp ground truth
vsrdb_test_pipeline = [
    dict(type='SampleVideoClip', random_start=False),
    dict(type='LoadVideoFrames', key='img', channel_order='rgb'),
    dict(type='LoadVideoFrames', key='gt', channel_order='rgb', scale=vsrdb_scale),
    dict(type='PackInputs', meta_keys=['key'])
]

# FMA-Net's protocol (main.py / utils.py): frames 1..N-2 scored (the 3-frame window needs both
# neighbours), 4-px border crop; RGB-PSNR, Y-PSNR, SSIM (per channel, MATLAB-style) and tOF.
# 'Y/PSNR' uses FMA-Net's Y (BT.601 weights on BGR channels) to compare with the paper;
# 'Y601/PSNR' is the standard BT.601 Y-PSNR.
vsrdb_evaluator = dict(
    type='Evaluator',
    metrics=[
        dict(type='VideoPSNR', exclude_frames=1, crop_border=4),
        dict(type='VideoPSNR', exclude_frames=1, crop_border=4, convert_to='Y',
             y_weights='fmanet_bgr', prefix='Y'),
        dict(type='VideoPSNR', exclude_frames=1, crop_border=4, convert_to='Y', prefix='Y601'),
        dict(type='VideoSSIM', exclude_frames=1, crop_border=4),
        dict(type='TemporalFlowError', exclude_frames=1),
    ])

# blurry LR frames only, for mmagic's inferencers (as video_deblur_common.py's demo_pipeline)
demo_pipeline = [
    dict(type='GenerateSegmentIndices', interval_list=[1]),
    dict(type='LoadImageFromFile', key='img', channel_order='rgb'),
    dict(type='PackInputs')
]
