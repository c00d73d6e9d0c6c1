"""Every torchvision classification architecture through `make_learner`: it builds, trains a step, freezes and
unfreezes by stages, explains an image with Grad-CAM at its default layer, and round-trips through
`save_classifier`/`load_classifier` with the same predictions.

The smallest model of each family runs in the full suite (`slow`: the quick tier keeps two), and
`TRANSFERLAB_ALL_ARCHS=1` sweeps every architecture. Nothing here lists how to cut a model: that is derived
from the model (`transferlab.archs.split_model`).
"""
import os, re, math, warnings
from functools import lru_cache
import numpy as np
import pytest
import torch, torchvision

NAMES = torchvision.models.list_models(module=torchvision.models)

SIZE = re.compile(r'^(\d\w*|b\d|x\d\w*|[tsmlbh]|tiny|small|base|large|bn)$')

def family(name:str) -> str:
    "A model's family: its name without size words (resnet18 -> resnet, efficientnet_v2_s -> efficientnet_v2, vit_b_16 -> vit)."
    kept = [t for t in name.split('_') if not SIZE.match(t)]
    return re.sub(r'(?<=[a-z]{3})\d+$', '', '_'.join(kept))   # resnet18 -> resnet, but mobilenet_v2 stays

def n_params(name:str) -> int:
    ws = torchvision.models.get_model_weights(name)
    return int(ws.DEFAULT.meta['num_params'])

def smallest_per_family() -> set:
    fams = {}
    for n in NAMES: fams.setdefault(family(n), []).append(n)
    return {min(ns, key=n_params) for ns in fams.values()}

SMALL = smallest_per_family()
SWEEP = bool(os.environ.get('TRANSFERLAB_ALL_ARCHS'))
QUICK = {'resnet18', 'mobilenet_v3_small'}   # what the quick tier keeps

def test_every_family_is_in_the_default_suite():
    fams = {family(n) for n in NAMES}
    assert {family(n) for n in SMALL} == fams and len(fams) >= 15, sorted(fams)

@lru_cache(maxsize=None)
def data(size:int):
    from transferlab.datasets import shapes_folder
    from transferlab.data import folder_dls
    return folder_dls(shapes_folder(n_per_class=3, size=size), size=size, bs=4, num_workers=0, aug='none', cache=False)

def build(name:str):
    "A learner at the smallest of 64, 112 and 224 px that the model runs on (the message for the others says why)."
    from transferlab.train import make_learner
    for size in (64, 112, 224):
        try: return make_learner(data(size), name, pretrained=False, precision='fp32', channels_last=False, check_mem=False)
        except ValueError as e:
            assert 'does not run on' in str(e) or 'multiple of' in str(e), f"{name}: unexpected error {e}"
    raise AssertionError(f"{name} builds at none of 64, 112, 224 px")

def _param(n):
    if n in QUICK: return n
    if n in SMALL: return pytest.param(n, marks=pytest.mark.slow)
    return pytest.param(n, marks=[pytest.mark.slow, pytest.mark.skipif(not SWEEP, reason='one per family; TRANSFERLAB_ALL_ARCHS=1 sweeps all')])

@pytest.mark.parametrize('name', [_param(n) for n in NAMES])
def test_architecture(name, tmp_path):
    from transferlab.interpret import gradcam
    from transferlab.persist import save_classifier, load_classifier
    warnings.simplefilter('ignore')
    learn = build(name)
    groups = learn.splitter(learn.model)
    assert len(groups) >= 3, f"{name}: {len(groups)} parameter groups"
    assert sum(len(g) for g in groups) == len(list(learn.model.parameters()))
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-4)
    assert math.isfinite(learn.recorder.values[-1][0])
    learn.freeze()
    frozen = [p.requires_grad for p in learn.model[0].parameters() if p.ndim > 1]
    assert frozen and not any(frozen), f"{name}: body weights still train after freeze()"
    learn.unfreeze(); assert all(p.requires_grad for p in learn.model.parameters())
    img = data(learn.transferlab['size']).valid_ds.items[0]
    cam = gradcam(learn, img)
    assert cam.shape == (learn.transferlab['size'],)*2 and np.isfinite(cam).all()
    save_classifier(learn, tmp_path/'model')
    back = load_classifier(tmp_path/'model')
    items = list(data(learn.transferlab['size']).valid_ds.items[:2])
    p1 = learn.get_preds(dl=learn.dls.test_dl(items))[0]; p2 = back.get_preds(dl=back.dls.test_dl(items))[0]
    assert torch.allclose(p1, p2, atol=1e-5), name

def test_unknown_and_misfit():
    from transferlab.train import make_learner
    with pytest.raises(ValueError, match=r"arch='mobilenet_v4': unknown arch; did you mean mobilenet_v2"): make_learner(data(64), 'mobilenet_v4')
    from transferlab.archs import split_model
    with pytest.raises(ValueError, match=r"multiple of 16"): split_model(torchvision.models.vit_b_16(), 60)
