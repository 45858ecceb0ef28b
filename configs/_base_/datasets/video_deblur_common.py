# Pipelines shared by the paired video-deblurring datasets (blurry 'img', sharp 'gt', scale 1).
# Dataset files set data roots and layouts; model configs set clip length and crop size.
train_pipeline = [
    dict(type='SampleVideoClip', interval_list=[1]),
    dict(type='LoadVideoFrames', key='img', channel_order='rgb'),
    dict(type='LoadVideoFrames', key='gt', channel_order='rgb'),
    dict(type='SetValues', dictionary=dict(scale=1)),
    dict(type='PairedRandomCrop', gt_patch_size=256),
    dict(type='Flip', keys=['img', 'gt'], flip_ratio=0.5, direction='horizontal'),
    dict(type='Flip', keys=['img', 'gt'], flip_ratio=0.5, direction='vertical'),
    dict(type='RandomTransposeHW', keys=['img', 'gt'], transpose_ratio=0.5),
    dict(type='PackInputs')
]

# whole sequences, in order
test_pipeline = [
    dict(type='SampleVideoClip', random_start=False),
    dict(type='LoadVideoFrames', key='img', channel_order='rgb'),
    dict(type='LoadVideoFrames', key='gt', channel_order='rgb'),
    # the sequence name travels with the sample: per-sequence metrics, progress, saved frames
    dict(type='PackInputs', meta_keys=['key'])
]

val_evaluator = dict(
    type='Evaluator', metrics=[dict(type='VideoPSNR'), dict(type='VideoSSIM')])
test_evaluator = val_evaluator

# blurry frames only, for mmagic's inferencers (MMagicInferencer's video restoration reads a
# frame folder through the first two steps; for a video file it drops them and packs 'img')
demo_pipeline = [
    dict(type='GenerateSegmentIndices', interval_list=[1]),
    dict(type='LoadImageFromFile', key='img', channel_order='rgb'),
    dict(type='PackInputs')
]
