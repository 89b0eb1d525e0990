import numpy as np
import pytest
import torch

from seq2track.config import parse_study
from seq2track.data.cache import onehot
from seq2track.io.genome import reverse_complement as reverse_complement_codes
from seq2track.data.prepare import prepare
from seq2track.errors import ConfigError
from seq2track.io.genome import decode, encode


@pytest.fixture
def ds(tiny):
    return prepare(parse_study(tiny["study"].read_text(), tiny["dir"], "s"), tiny["dir"] / "cache")


def test_onehot_layout_and_rc():
    codes = encode("ACGTN")[None]
    x = onehot(codes)
    assert x.shape == (1, 4, 5) and x.dtype == np.float32
    assert x[0].argmax(0)[:4].tolist() == [0, 1, 2, 3] and x[0, :, 4].sum() == 0
    assert decode(reverse_complement_codes(encode("AACGTN")[None])[0]) == "NACGTT"


def test_item_shapes_and_no_augmentation_outside_train(ds):
    val = ds.torch_dataset("val")
    x, y = val[0]
    assert x.shape == (4, 1024) and y.shape == (1, 8) and x.dtype == torch.float32
    np.testing.assert_array_equal(y.numpy(), ds.targets("val")[0])
    with pytest.raises(ConfigError, match="training split only"):
        ds.torch_dataset("test", augment={"rc": True, "max_shift": 3})


def test_loader_covers_split_once_in_order_without_augmentation(ds):
    td = ds.torch_dataset("val")
    xs, ys = zip(*list(td.loader(7)))
    y = torch.cat(ys).numpy()
    np.testing.assert_array_equal(y, ds.targets("val"))
    assert torch.cat(xs).shape[0] == len(ds.rows("val"))


def test_augmentation_is_seeded_and_correct(ds):
    td = ds.torch_dataset("train", augment={"rc": True, "max_shift": 3}, seed=5)
    a = [(x.clone(), y.clone()) for x, y in td.loader(16, shuffle=True)]
    td2 = ds.torch_dataset("train", augment={"rc": True, "max_shift": 3}, seed=5)
    b = list(td2.loader(16, shuffle=True))
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # every augmented target is either the plain target or its bin-reversal (RC); inputs are
    # the window's sequence shifted by <= 3 bp, possibly reverse-complemented
    sampler = td.loader(16, shuffle=True).sampler
    sampler.set_epoch(0)
    epoch, bno, pos = next(iter(sampler))
    x, y = td[(epoch, bno, pos)]
    rows = td.rows[pos]
    plain_y = ds.targets(rows)
    n_rc = 0
    for k, r in enumerate(rows):
        if np.array_equal(y[k].numpy(), plain_y[k]):
            seq = ds.sequence(r)
            got = decode(np.where(x[k].numpy().sum(0) > 0, x[k].numpy().argmax(0), 4))
        else:
            np.testing.assert_array_equal(y[k].numpy(), plain_y[k][:, ::-1])
            n_rc += 1
            seq = ds.sequence(r)
            got = decode(reverse_complement_codes(encode(
                decode(np.where(x[k].numpy().sum(0) > 0, x[k].numpy().argmax(0), 4)))[None])[0])
        start = int(ds.windows.start[r])
        chrom = ds.windows.chrom[r]
        full = ds.chrom_codes(chrom)
        ok = [decode(full[start + s : start + s + 1024]) == got for s in range(-3, 4) if start + s >= 0]
        assert any(ok)
    assert 0 < n_rc < len(rows)


def test_shift_stays_inside_chromosome(ds):
    first = int(np.flatnonzero(ds.windows.start.to_numpy() == 0)[0])
    codes = ds.codes(np.array([first]), shifts=np.array([-3]))
    np.testing.assert_array_equal(codes, ds.codes(np.array([first])))
