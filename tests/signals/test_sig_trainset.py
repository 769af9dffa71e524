"""Training / evaluation sets: dirty receivers beside the signal, long observations held
out, hit location as the pipeline does it, the classify rules in the scores, and sets that
do not depend on the number of worker processes."""
import numpy as np
import pytest

from mitraseti.signals import trainset
from mitraseti.signals.evaluate import EVAL_TAG, TRAIN_MIX, score
from mitraseti.signals.model import load_default
from mitraseti.taxonomy import MORPHOLOGIES
from mitraseti.signals.trainset_dirty import RFI_MAX_COVER, make_dirty_observation
from mitraseti.signals.trainset_inject import make_example
from mitraseti.synth import NoiseModel, random_signal
from mitraseti.synth.observation import make_header

GRID = dict(n_spectra=32, n_chans=2048, df_hz=1.3969839, dt_s=1.4316557, fch1_mhz=8400.0,
            foff_sign=-1)


@pytest.mark.parametrize("label", ["NARROWBAND_DRIFTING", "NARROWBAND_STATIONARY", "CHIRP",
                                   "PULSED", "BROADBAND"])
def test_interference_stays_beside_the_signal(label):
    """Over many dirty receivers, synth's own record of every interferer's 1 % extent
    never reaches the signal's track, so the noise along the track is untouched (the
    signal keeps its label and its S/N) while the block around it is dirty."""
    rng = np.random.default_rng(31)
    n_rfi = 0
    for _ in range(12):
        sig = random_signal(label, rng, make_header(**GRID), snr_range=(20.0, 100.0))
        obs, _ = make_dirty_observation(sig, GRID, NoiseModel(kind="chi2", dof=32), rng)
        truth = obs.truth[0]
        assert truth.label == label
        assert truth.local_noise_factor == pytest.approx(1.0)
        half = 0.5 * truth.bandwidth_hz / GRID["df_hz"]
        lo = min(truth.track_channels) - half
        hi = max(truth.track_channels) + half
        for rec in obs.impairment_truth.rfi:
            n_rfi += 1
            assert rec["channel_hi"] < lo or rec["channel_lo"] > hi, (rec, lo, hi)
            assert rec["channel_hi"] - rec["channel_lo"] <= RFI_MAX_COVER * GRID["n_chans"] + 2
    assert n_rfi >= 6       # interference did get into the blocks


def test_dirty_examples_go_through_the_search():
    """Dirty examples are located by the real search (as the pipeline locates hits),
    every label keeps its examples."""
    x, y, meta = trainset.build_set((5, 1), 2, dirty_share=1.0)
    assert sorted(set(y)) == sorted(MORPHOLOGIES) and len(y) == 12
    assert all(m["dirty"] for m in meta)
    assert sum(m["searched"] for m in meta) >= 6
    assert np.isfinite(x).all()


def test_set_is_the_same_whatever_the_number_of_workers():
    kw = dict(dirty_share=0.5, long_share=0.3, long_settings=trainset.LONG_TRAIN_SETTINGS)
    one = trainset.build_set(3, 2, **kw)
    two = trainset.build_set(3, 2, workers=2, **kw)
    np.testing.assert_array_equal(one[0], two[0])
    assert list(one[1]) == list(two[1]) and one[2] == two[2]


def test_long_training_observations_are_not_the_held_out_ones():
    """The long evaluation set stays held out: no training setting shares its length or
    its resolution."""
    train = list(trainset.TRAIN_SETTINGS.values()) + list(trainset.LONG_TRAIN_SETTINGS.values())
    for df, dt, t_n, _ in trainset.LONG_HELD_OUT_SETTINGS.values():
        for tdf, tdt, tt, _ in train:
            assert tt != t_n
            assert not (np.isclose(tdf, df, rtol=0.02) or np.isclose(tdt, dt, rtol=0.02))
    assert {s[2] for s in trainset.LONG_TRAIN_SETTINGS.values()} >= {128, 256, 512}
    assert 0.3 <= TRAIN_MIX["dirty_share"] <= 0.5


def test_a_path_faster_than_the_search_range_needs_the_search():
    """No search reports a straight line drifting faster than MAX_DRIFT: such an example
    is located by the search or not at all."""
    rng = np.random.default_rng(4)
    ex = make_example("NARROWBAND_DRIFTING", rng, trainset.TRAIN_SETTINGS["voyager"],
                      "gaussian")
    hdr = ex.header
    fast = trainset.MAX_DRIFT * 3 * hdr.tsamp / (hdr.foff * 1e6)   # channels per spectrum
    ex.path = ex.path[0] + fast * np.arange(ex.path.size)
    assert trainset.locate_hit(ex, search=None) is None
    ex.path = np.full(ex.path.size, ex.path[0])
    loc = trainset.locate_hit(ex, search=None)
    assert loc is not None and not loc.searched and loc.snr == pytest.approx(max(ex.snr, 10))


def test_scores_apply_the_rules_of_classify_hits():
    """A hit the baseline measured as broadband is BROADBAND, a still hit on the DC bin
    NOISE, whatever the model says."""
    x, y, meta = trainset.build_set((EVAL_TAG, 77), 3, use_search=False)
    model = load_default()
    plain = score(model, x, y, meta)
    broad = score(model, x, y, [dict(m, rule_broadband=True) for m in meta])
    noise = score(model, x, y, [dict(m, artifact=True) for m in meta])
    i_b, i_n = MORPHOLOGIES.index("BROADBAND"), MORPHOLOGIES.index("NOISE")
    assert plain["accuracy"] > 0.5
    assert broad["recall"][i_b] == 1 and broad["accuracy"] == pytest.approx(1 / 6)
    assert noise["recall"][i_n] == 1 and noise["accuracy"] == pytest.approx(1 / 6)
