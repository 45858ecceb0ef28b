"""On-disk layouts of the video-deblurring datasets, as published.

A layout maps a sequence name to its blurry and sharp frame folders (relative to ``data_root``).
"""
import os
import os.path as osp

# name -> (blurry folder template, sharp folder template)
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
}

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


def resolve_layout(layout):
    """Return ``(blur_template, sharp_template)`` for a layout name or a 2-tuple/dict."""
    if isinstance(layout, str):
        if layout not in DATASET_LAYOUTS:
            raise KeyError(f'unknown dataset layout {layout!r}; known layouts: '
                           f'{sorted(DATASET_LAYOUTS)}, or pass dict(blur=..., sharp=...) '
                           f'with "{{seq}}" templates')
        return DATASET_LAYOUTS[layout]
    if isinstance(layout, dict):
        return layout['blur'], layout['sharp']
    blur, sharp = layout
    return blur, sharp


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
