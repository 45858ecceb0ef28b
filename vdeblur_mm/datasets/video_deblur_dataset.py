"""Paired blurry/sharp video dataset for the published on-disk layouts."""
import os
import os.path as osp
from typing import List, Optional, Sequence

from mmagic.registry import DATASETS
from mmengine.dataset import BaseDataset

from .layouts import (
    EXTRA_FRAME_FOLDERS,
    FLOW_FOLDER,
    discover_sequences,
    flow_file_name,
    layout_folders,
    list_frames,
    resolve_layout,
)

FLOW_TOOL_HINT = ('generate them with tools/generate_pseudo_flows.py <data_root> --layout '
                  '<layout> (RAFT with a local --checkpoint, or --estimator dis)')


class DatasetError(ValueError):
    """A dataset folder does not have the layout or content its config promises."""


def read_annotation(ann_file):
    """Read an annotation file: one ``<sequence> [<num_frames>]`` per line, ``#`` comments."""
    entries = []
    with open(ann_file) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
                raise DatasetError(f'{ann_file}:{lineno}: expected "<sequence> [<num_frames>]", '
                                   f'got {line!r}')
            entries.append((parts[0], int(parts[1]) if len(parts) == 2 else None))
    if not entries:
        raise DatasetError(f'annotation file {ann_file} lists no sequence')
    return entries


def scan_sequence(data_root, layout, seq, expected_frames=None):
    """Frame file lists of one sequence, checked for consistency.

    Returns:
        tuple(list[str], list[str]): blurry and sharp frame paths, same length, same names.
    """
    blur_tmpl, sharp_tmpl = resolve_layout(layout)
    blur_dir = osp.join(data_root, blur_tmpl.format(seq=seq))
    sharp_dir = osp.join(data_root, sharp_tmpl.format(seq=seq))
    for kind, folder in (('blurry', blur_dir), ('sharp', sharp_dir)):
        if not osp.isdir(folder):
            raise DatasetError(f'sequence {seq!r}: {kind} frame folder {folder} does not exist')
    blur, sharp = list_frames(blur_dir), list_frames(sharp_dir)
    if not blur:
        raise DatasetError(f'sequence {seq!r}: no image files in {blur_dir}')
    if len(blur) != len(sharp):
        raise DatasetError(f'sequence {seq!r}: frame count mismatch, {len(blur)} blurry frames '
                           f'in {blur_dir} but {len(sharp)} sharp frames in {sharp_dir}')
    unmatched = [(b, s) for b, s in zip(blur, sharp)
                 if osp.splitext(b)[0] != osp.splitext(s)[0]]
    if unmatched:
        b, s = unmatched[0]
        raise DatasetError(f'sequence {seq!r}: blurry frame {osp.join(blur_dir, b)} has no sharp '
                           f'frame of the same name (found {osp.join(sharp_dir, s)})')
    if expected_frames is not None and expected_frames != len(blur):
        raise DatasetError(f'sequence {seq!r}: the annotation says {expected_frames} frames but '
                           f'{blur_dir} holds {len(blur)}')
    return ([osp.join(blur_dir, f) for f in blur], [osp.join(sharp_dir, f) for f in sharp])


def _layout_name(layout):
    return repr(layout)


def scan_extra_frames(data_root, layout, seq, kind, blur_frames):
    """Frame paths of one extra per-sequence folder (e.g. 'sharp_lr'), checked against the
    blurry frames: the same count and the same file stems.

    Returns:
        list[str]: One path per blurry frame, in the same order.
    """
    folders = layout_folders(layout)
    if kind not in folders:
        raise DatasetError(f'layout {_layout_name(layout)} names no {kind!r} folder (it has '
                           f'{sorted(folders)}); use a layout with a {kind!r} template, e.g. '
                           "'reds_vsrdb' or 'gopro_x4'")
    folder = osp.join(data_root, folders[kind].format(seq=seq))
    if not osp.isdir(folder):
        raise DatasetError(f'sequence {seq!r}: {kind} frame folder {folder} does not exist')
    names = list_frames(folder)
    by_stem = {osp.splitext(f)[0]: f for f in names}
    paths = []
    for blur in blur_frames:
        stem = osp.splitext(osp.basename(blur))[0]
        if stem not in by_stem:
            raise DatasetError(f'sequence {seq!r}: blurry frame {blur} has no {kind} frame of '
                               f'the same name in {folder} ({len(names)} frames there)')
        paths.append(osp.join(folder, by_stem[stem]))
    return paths


def flow_folder(data_root, layout, seq):
    """The pseudo-flow folder of a sequence (it need not exist)."""
    folders = layout_folders(layout)
    if FLOW_FOLDER not in folders:
        raise DatasetError(f'pseudo-GT flows were asked for, but layout {_layout_name(layout)} '
                           f'names no {FLOW_FOLDER!r} folder (it has {sorted(folders)}); use a '
                           "layout with a 'flow' template, e.g. 'reds_vsrdb' or 'gopro_x4'")
    return osp.join(data_root, folders[FLOW_FOLDER].format(seq=seq))


def check_flow_folder(data_root, layout, seq, frames, dist=1):
    """Check that a sequence's flow folder holds every centre → neighbour flow at distance
    ``dist`` (FMA-Net with T=3: ``dist=1``) and return the folder.

    Raises:
        DatasetError: The folder or a flow file is missing (naming it, and the tool that
            writes them).
    """
    folder = flow_folder(data_root, layout, seq)
    if not osp.isdir(folder):
        raise DatasetError(f'sequence {seq!r}: pseudo-flow folder {folder} does not exist; '
                           + FLOW_TOOL_HINT)
    present = set(os.listdir(folder))
    stems = [osp.splitext(osp.basename(f))[0] for f in frames]
    missing = [flow_file_name(stems[t], stems[t + d]) for t in range(dist, len(stems) - dist)
               for d in (-dist, dist)
               if flow_file_name(stems[t], stems[t + d]) not in present]
    if missing:
        raise DatasetError(f'sequence {seq!r}: {len(missing)} pseudo-flow files missing in '
                           f'{folder}, e.g. {missing[0]}; ' + FLOW_TOOL_HINT)
    return folder


def split_clip_settings(clips):
    """``(frames, overlap)`` of a ``clips`` setting (see :class:`VideoDeblurDataset`), or None.

    Raises:
        ValueError: unknown keys, or not ``frames >= 1`` and ``0 <= overlap < frames``.
    """
    if not clips:
        return None
    unknown = set(clips) - {'frames', 'overlap'}
    if unknown:
        raise ValueError(f'clips takes frames and overlap, got {sorted(unknown)}')
    frames, overlap = int(clips.get('frames', 30)), int(clips.get('overlap', 0))
    if frames < 1 or not 0 <= overlap < frames:
        raise ValueError(f'clips needs frames >= 1 and 0 <= overlap < frames, got frames='
                         f'{frames}, overlap={overlap}')
    return frames, overlap


def split_into_clips(item, frames, overlap):
    """The test clips of one sequence item (see ``clips`` of :class:`VideoDeblurDataset`)."""
    length, step = item['sequence_length'], frames - overlap
    starts = [i * step for i in range(max(0, (length - overlap) // step))]
    if (length - overlap) % step or not starts:
        starts.append(max(0, length - frames))  # aligned to the end, as BasicSR's
    out = []
    for k, s in enumerate(starts):
        clip = dict(item, key=f"{item['key']}-{k:03d}", clip_start=s,
                    sequence_length=min(frames, length - s))
        for name, value in item.items():
            if name.endswith('_frames') and isinstance(value, list):
                clip[name] = value[s:s + frames]
        out.append(clip)
    return out


@DATASETS.register_module()
class VideoDeblurDataset(BaseDataset):
    """Paired blurry/sharp video sequences in GoPro, DVD, BSD, REDS (or custom) layout.

    Each item is one whole sequence; a pipeline transform such as ``SampleVideoClip`` picks the
    frames. Frame lists are checked when the dataset is built: missing folders, blurry/sharp
    count or name mismatches and annotation disagreements raise :class:`DatasetError` naming the
    folder.

    Args:
        data_root (str): Dataset root, e.g. ``data/GOPRO_Large/train``.
        layout (str | dict): A name in ``DATASET_LAYOUTS`` ('gopro', 'dvd', 'bsd', 'reds', ...)
            or ``dict(blur='{seq}/blurry', sharp='{seq}/gt')``. Default: 'gopro'.
        ann_file (str): Optional annotation file (relative to ``data_root``) listing
            ``<sequence> [<num_frames>]`` per line; without it the sequences are discovered.
        sequences (list[str], optional): Keep only these sequences.
        exclude_sequences (list[str], optional): Drop these sequences (e.g. REDS4 from train).
        extra_frames (list[str]): Extra frame folders of the layout to list, e.g.
            ``['sharp_lr']`` (x4 VSRDB: the LR sharp frames); each adds
            ``<name>_frames`` to the items (same names as the blurry frames). Default: ().
        with_flows (bool): The items get ``flow_dir``, the sequence's pseudo-GT flow folder
            (the layout's 'flow' template), checked to hold every centre → neighbour flow at
            distance 1 (``LoadPseudoFlows`` reads them). Default: False.
        num_input_frames (int, optional): Frames per training clip, passed to the pipeline.
        clips (dict, optional): Test items are fixed clips instead of whole sequences:
            ``dict(frames=30, overlap=0)`` cuts every sequence into ``frames``-frame clips
            starting every ``frames - overlap`` frames, plus, when frames are left over, one
            more clip aligned to the end (so some frames are in two clips, and scored twice),
            keyed ``<sequence>-<index:03d>``: BasicSR's ``VideoRecurrentSplitClipsTestDataset``,
            VD-Diff's test protocol (metrics per clip, then averaged over clips). A sequence
            shorter than ``frames`` is one clip. Default: None (whole sequences).
        pipeline (list[dict]): Processing pipeline.
        test_mode (bool): Test mode. Default: False.
    """

    METAINFO = dict(dataset_type='video_deblur_dataset', task_name='video_deblur')

    def __init__(self,
                 data_root: str,
                 layout='gopro',
                 ann_file: str = '',
                 sequences: Optional[Sequence[str]] = None,
                 exclude_sequences: Optional[Sequence[str]] = None,
                 num_input_frames: Optional[int] = None,
                 extra_frames: Sequence[str] = (),
                 with_flows: bool = False,
                 clips: Optional[dict] = None,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 **kwargs):
        self.layout = layout
        self.sequences = list(sequences) if sequences is not None else None
        self.exclude_sequences = set(exclude_sequences or ())
        self.num_input_frames = num_input_frames
        self.extra_frames = [extra_frames] if isinstance(extra_frames, str) else \
            list(extra_frames)
        self.with_flows = with_flows
        self.clips = split_clip_settings(clips)
        folders = layout_folders(layout)  # fail early on an unknown layout name
        for kind in self.extra_frames:
            if kind not in EXTRA_FRAME_FOLDERS:
                raise ValueError(f'extra_frames may name {list(EXTRA_FRAME_FOLDERS)}, got '
                                 f'{kind!r}')
            if kind not in folders:
                raise DatasetError(f'extra_frames asks for {kind!r} frames, but layout '
                                   f'{_layout_name(layout)} names no {kind!r} folder (it has '
                                   f'{sorted(folders)})')
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            pipeline=list(pipeline),
            test_mode=test_mode,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        if not osp.isdir(self.data_root):
            raise DatasetError(f'dataset folder {self.data_root} does not exist')
        if self.ann_file:
            if not osp.isfile(self.ann_file):
                raise DatasetError(f'annotation file {self.ann_file} does not exist')
            entries = read_annotation(self.ann_file)
        else:
            entries = [(s, None) for s in discover_sequences(self.data_root, self.layout)]
        if self.sequences is not None:
            known = {s for s, _ in entries}
            missing = [s for s in self.sequences if s not in known]
            if missing:
                raise DatasetError(f'sequences {missing} not found under {self.data_root} '
                                   f'(layout {self.layout!r})')
            entries = [e for e in entries if e[0] in set(self.sequences)]
        entries = [e for e in entries if e[0] not in self.exclude_sequences]
        if not entries:
            blur_tmpl, _ = resolve_layout(self.layout)
            raise DatasetError(f'no sequence found under {self.data_root} for layout '
                               f'{self.layout!r} (expected folders like '
                               f'{osp.join(self.data_root, blur_tmpl)})')
        data_list = []
        for seq, expected in entries:
            blur, sharp = scan_sequence(self.data_root, self.layout, seq, expected)
            item = dict(key=seq, blur_frames=blur, sharp_frames=sharp,
                        sequence_length=len(blur), num_input_frames=self.num_input_frames)
            for kind in self.extra_frames:
                item[f'{kind}_frames'] = scan_extra_frames(self.data_root, self.layout, seq,
                                                           kind, blur)
            if self.with_flows:
                item['flow_dir'] = check_flow_folder(self.data_root, self.layout, seq, blur)
            data_list.extend(split_into_clips(item, *self.clips) if self.clips else [item])
        return data_list
