# The demo model's three-frame version: the same NAFNet (16 channels, one block per stage) over a
# window of 3 frames stacked as 9 channels (FrameStackNet, early fusion), the centre frame
# restored. The neighbours show where nothing moved, which a single frame cannot tell from
# soft content: the one-frame model sharpened near-sharp clips (docs/demo.md). Its training
# starts from the one-frame demo weights inflated to three frames (`tools/train_demo_model.py
# --config <this> --inflate-from checkpoints/demo/...`: the same output before any step).
_base_ = ['./nafnet-frames_c16_1xb8-demo_synthetic.py']

experiment_name = 'nafnet-stack3_c16_1xb8-demo_synthetic'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    type='FrameStackRestorer',
    # the one-frame config's NAFNet and size multiple, over 3 frames x 3 channels
    generator=dict(type='FrameStackNet', num_frames=3, image_net=dict(img_channels=9)),
    # borders of whole videos: the first/last frame replicated (the base's sliding window)
    test_cfg=dict(window_batch=4))

train_dataloader = dict(dataset=dict(num_input_frames=3))
