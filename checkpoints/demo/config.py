# The shipped demo model (nafnet-stack3_c16_demo.pth beside this file, fp16 weights) as `make demo`
# uses it: the training config of configs/nafnet_frames (NAFNet over 3-frame windows) with make
# demo's data and a short fine-tune schedule (tools/demo.py; the weights themselves come from
# tools/train_demo_model.py, which starts from the one-frame nafnet-frames_c16_demo.pth here).
_base_ = ['../../configs/nafnet_frames/nafnet-stack3_c16_1xb8-demo_synthetic.py']

experiment_name = 'nafnet-stack3_c16_demo'
work_dir = './work_dirs/demo'
data_root = 'data/demo_synthetic'
load_from = 'checkpoints/demo/nafnet-stack3_c16_demo.pth'

train_dataloader = dict(dataset=dict(data_root=data_root + '/train'))
val_dataloader = dict(dataset=dict(data_root=data_root + '/test'))
test_dataloader = val_dataloader

# fine-tuning a trained model: a small constant learning rate, a few iterations (measured with
# the one-frame model at 2e-5: 20 iterations on make demo's 8 training clips took the held-out
# PSNR from 32.28 to 31.69 dB, the fresh Adam state's first steps being about lr in size for
# every weight)
fine_tune_iters = 100
train_cfg = dict(type='IterBasedTrainLoop', max_iters=fine_tune_iters,
                 val_interval=fine_tune_iters)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-6, betas=(0.9, 0.99)))
param_scheduler = dict(_delete_=True, type='ConstantLR', factor=1.0, by_epoch=False)
default_hooks = dict(checkpoint=dict(interval=fine_tune_iters, max_keep_ckpts=1))
