# Adam + a single cosine period, iteration based (BasicVSR++ deblur / EDVR style).
train_cfg = dict(type='IterBasedTrainLoop', max_iters=600_000, val_interval=5000)
val_cfg = dict(type='MultiValLoop')
test_cfg = dict(type='MultiTestLoop')

optim_wrapper = dict(
    constructor='DefaultOptimWrapperConstructor',
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99)))

param_scheduler = dict(
    type='CosineRestartLR', by_epoch=False, periods=[600_000], restart_weights=[1],
    eta_min=1e-7)
