# REDS for x4 joint super-resolution + deblurring (VSRDB), as FMA-Net's data.py reads it:
#   <root>/{train,val}_blur_bicubic/X4/<seq>/*.png    LR blurry input
#   <root>/{train,val}_sharp/<seq>/*.png              HR sharp ground truth
#   <root>/{train,val}_sharp_bicubic/X4/<seq>/*.png   LR sharp (temporal-anchor loss)
#   <root>/{train,val}_flow_bicubic/X4/<seq>/*.npy    pseudo-GT flows, written by
#       tools/generate_pseudo_flows.py <root> --layout reds_vsrdb (and reds_val_vsrdb)
#       --checkpoint raft-sintel.pth --device cuda
# Split as FMA-Net's preprocessing/generate_reds4.py: REDS4 (train clips 000, 011, 015, 020) is
# held out for validation/testing; training uses the other 236 train clips plus the 30 val clips
# (which the official script renames 240-269; here they keep their names, under val_*).
_base_ = ['./vsrdb_common.py']

dataset_type = 'VideoDeblurDataset'
data_root = 'data/REDS'
reds4 = ['000', '011', '015', '020']

train_dataloader = dict(
    num_workers=8,
    batch_size=8,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='ConcatDataset',
        datasets=[
            dict(
                type=dataset_type,
                data_root=data_root,
                layout='reds_vsrdb',
                exclude_sequences=reds4,
                extra_frames=['sharp_lr'],
                with_flows=True,
                num_input_frames=3,
                pipeline={{_base_.vsrdb_train_pipeline}}),
            dict(
                type=dataset_type,
                data_root=data_root,
                layout='reds_val_vsrdb',
                extra_frames=['sharp_lr'],
                with_flows=True,
                num_input_frames=3,
                pipeline={{_base_.vsrdb_train_pipeline}}),
        ]))

val_dataloader = dict(
    num_workers=1,
    batch_size=1,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        layout='reds_vsrdb',
        sequences=reds4,
        test_mode=True,
        pipeline={{_base_.vsrdb_test_pipeline}}))

test_dataloader = val_dataloader
val_evaluator = {{_base_.vsrdb_evaluator}}
test_evaluator = val_evaluator
