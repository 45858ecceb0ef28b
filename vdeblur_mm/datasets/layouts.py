"""On-disk layouts of the video-deblurring datasets, as published.

A layout maps a sequence name to its blurry and sharp frame folders (relative to ``data_root``),
and, for joint super-resolution + deblurring (VSRDB, FMA-Net), optionally to more per-sequence
folders:

- ``sharp_lr``: low-resolution sharp frames, with the same file names as the blurry ones
  (FMA-Net's temporal-anchor loss);
- ``flow``: pseudo-ground-truth optical flows between the low-resolution sharp frames,
  ``<centre stem>_<neighbour stem>.npy`` (``tools/generate_pseudo_flows.py`` writes them).
"""
import os
import os.path as osp

# name -> (blurry folder template, sharp folder template), or a dict with 'blur', 'sharp' and
# optional 'sharp_lr' and 'flow' templates
DATASET_LAYOUTS = {
    # GOPRO_Large: <root>/{train,test}/<seq>/{blur,blur_gamma,sharp}/000047.png
    'gopro': ('{seq}/blur', '{seq}/sharp'),
    # GoPro as re-arranged by BasicVSR++/mmagic users: <root>/{blur,GT}/<seq>/*.png
    'gopro_by_kind': ('blur/{seq}', 'GT/{seq}'),
    # DVD (DeepVideoDeblurring_Dataset): quantitative_datasets/<seq>/{input,GT}/00000.jpg
    'dvd': ('{seq}/input', '{seq}/GT'),
    # BSD (BSD_{1ms8ms,2ms16ms,3ms24ms}): {train,valid,test}/<seq>/{Blur,Sharp}/RGB/00000000.png
    'bsd': ('{seq}/Blur/RGB', '{seq}/Sharp/RGB'),
    # REDS deblur track: {train,val}_blur/<seq>/00000000.png and {train,val}_sharp/<seq>/...
    'reds': ('train_blur/{seq}', 'train_sharp/{seq}'),
    'reds_val': ('val_blur/{seq}', 'val_sharp/{seq}'),
    # REDS for x4 VSRDB as FMA-Net's data.py reads it: input the x4 bicubic-downsampled blurry
    # frames, ground truth the HR sharp frames, LR sharp frames for the TA loss, flows in the
    # folder named by replacing 'blur' with 'flow' in the LR blurry path
    'reds_vsrdb': dict(blur='train_blur_bicubic/X4/{seq}', sharp='train_sharp/{seq}',
                       sharp_lr='train_sharp_bicubic/X4/{seq}',
                       flow='train_flow_bicubic/X4/{seq}'),
    'reds_val_vsrdb': dict(blur='val_blur_bicubic/X4/{seq}', sharp='val_sharp/{seq}',
                           sharp_lr='val_sharp_bicubic/X4/{seq}',
                           flow='val_flow_bicubic/X4/{seq}'),
    # GoPro x4 (FMA-Net++'s cross-dataset test; also the synthetic data with lr_scale=4): the
    # x4 downsampled frames that tools/prepare_dataset.py --downsample 4 writes beside the
    # originals: <root>/<seq>/{blur,sharp,blur_x4,sharp_x4,flow_x4}
    'gopro_x4': dict(blur='{seq}/blur_x4', sharp='{seq}/sharp', sharp_lr='{seq}/sharp_x4',
                     flow='{seq}/flow_x4'),
}

# folders a layout may name besides 'blur' and 'sharp'
EXTRA_FRAME_FOLDERS = ('sharp_lr', )
FLOW_FOLDER = 'flow'

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


def layout_folders(layout):
    """All folder templates of a layout, as a dict: 'blur', 'sharp' and any of 'sharp_lr',
    'flow' it names.

    Args:
        layout (str | dict | tuple): A name in ``DATASET_LAYOUTS``, a dict of ``{seq}``
            templates (at least 'blur' and 'sharp'), or a ``(blur, sharp)`` pair.
    """
    if isinstance(layout, str):
        if layout not in DATASET_LAYOUTS:
            raise KeyError(f'unknown dataset layout {layout!r}; known layouts: '
                           f'{sorted(DATASET_LAYOUTS)}, or pass dict(blur=..., sharp=...) '
                           f'with "{{seq}}" templates')
        layout = DATASET_LAYOUTS[layout]
    if isinstance(layout, dict):
        known = ('blur', 'sharp') + EXTRA_FRAME_FOLDERS + (FLOW_FOLDER, )
        unknown = sorted(set(layout) - set(known))
        if unknown or 'blur' not in layout or 'sharp' not in layout:
            raise KeyError(f'a layout dict needs "blur" and "sharp" templates and may name '
                           f'{list(known[2:])}; got keys {sorted(layout)}')
        return dict(layout)
    blur, sharp = layout
    return dict(blur=blur, sharp=sharp)


def resolve_layout(layout):
    """Return ``(blur_template, sharp_template)`` for a layout name, a dict or a 2-tuple."""
    folders = layout_folders(layout)
    return folders['blur'], folders['sharp']


def list_frames(folder):
    """Sorted image file names in ``folder`` (no sub-folders)."""
    return sorted(f for f in os.listdir(folder)
                  if f.lower().endswith(IMAGE_EXTENSIONS) and osp.isfile(osp.join(folder, f)))


def discover_sequences(data_root, layout):
    """Sequence names under ``data_root`` whose blurry and sharp folders both exist."""
    import glob
    import re
    blur_tmpl, sharp_tmpl = resolve_layout(layout)
    regex = re.compile(re.escape(blur_tmpl).replace(re.escape('{seq}'), '([^/]+)') + '$')
    names = []
    for path in glob.glob(osp.join(data_root, blur_tmpl.replace('{seq}', '*'))):
        rel = osp.relpath(path, data_root).replace(osp.sep, '/')
        match = regex.match(rel)
        if match and osp.isdir(path) and osp.isdir(
                osp.join(data_root, sharp_tmpl.format(seq=match.group(1)))):
            names.append(match.group(1))
    return sorted(names)


def flow_file_name(centre_stem, neighbour_stem):
    """FMA-Net's pseudo-flow file name: the flow from the centre frame to a neighbour."""
    return f'{centre_stem}_{neighbour_stem}.npy'
