"""Snowball flagging (webbcal.detector.large_events), on flag planes whose geometry is
known: a ring of jumps of radius R around a newly saturated core is flagged out to
expand_factor x R (not beyond), saturated pixels keep their flag alone, a wide core
grows by sat_expand in diameter from its group on (not before), and the candidates that
are not snowballs (too small, no core away from the edge) are left alone."""
import numpy as np
import pytest

from webbcal.detector.large_events import flag_snowballs, regions

SAT, JUMP = 2, 4


def _event(ny=101, nx=101, cy=50, cx=50, ring=4.0, core=1, group=3, ngroups=6):
    """A ring of JUMP of radius ``ring`` around a core of (2 core + 1)^2 SATURATED pixels
    new in ``group`` (and saturated after it)."""
    gdq = np.zeros((1, ngroups, ny, nx), np.uint8)
    yy, xx = np.mgrid[0:ny, 0:nx]
    d = np.hypot(yy - cy, xx - cx)
    gdq[0, group][(d <= ring) & (d > core + 1)] |= JUMP
    sq = (np.abs(yy - cy) <= core) & (np.abs(xx - cx) <= core)
    gdq[0, group:][:, sq] |= SAT
    return gdq, d, sq


def test_regions_are_connected_components_with_enclosing_circles():
    m = np.zeros((20, 20), bool)
    m[2:5, 2:5] = True          # 9 pixels, centre (3, 3), corners at sqrt(2)
    m[10, 10] = m[11, 11] = True  # diagonal pair: one 8-connected region of 2
    found = regions(m, 1)
    assert len(found) == 2
    big = max(found, key=lambda c: c.area)
    assert (big.y, big.x, big.area) == (3.0, 3.0, 9)
    assert big.radius == pytest.approx(np.sqrt(2) + 0.5)
    assert len(regions(m, 5)) == 1


def test_snowball_disc_is_expand_factor_times_the_ring():
    gdq, d, sq = _event(ring=4.0)
    out, n = flag_snowballs(gdq, expand_factor=2.0)
    assert n == 1
    r = 4.0 + 0.5                            # enclosing radius of the ring's pixel centres
    jump = (out[0, 3] & JUMP) != 0
    assert np.all(jump[(d <= 2 * r - 0.01) & ~sq])
    assert not np.any(jump[d > 2 * r + 0.01])
    assert not np.any(jump[sq])              # saturated pixels are not flagged jump
    # other groups untouched by the disc
    assert not np.any(out[0, 2] & JUMP) and not np.any(out[0, 4] & JUMP)


def test_wide_core_grows_its_saturation_from_its_group_on():
    gdq, d, sq = _event(ring=5.0, core=2)    # 5 x 5 core: enclosing diameter 2 (2 sqrt 2 + 0.5) > 2.5
    out, _ = flag_snowballs(gdq, sat_expand=2.0)
    core_r = 2 * np.sqrt(2) + 0.5
    grown = d <= core_r + 1.0
    for g in range(3, 6):
        assert np.all(out[0, g][grown] & SAT)
    assert not np.any(out[0, 2] & SAT)       # not before the group it appeared in
    assert not np.any(out[0, 3][d > core_r + 1.01] & SAT)
    # a single saturated pixel (diameter 1) does not grow
    gdq1, d1, sq1 = _event(core=0)
    out1, _ = flag_snowballs(gdq1)
    assert np.array_equal(out1 & SAT, gdq1 & SAT)


def test_candidates_that_are_not_snowballs():
    # no saturated core, far from the edge: left alone (unless no core is required)
    gdq, d, sq = _event()
    gdq &= ~np.uint8(SAT)
    out, n = flag_snowballs(gdq)
    assert n == 0 and np.array_equal(out, gdq)
    out, n = flag_snowballs(gdq, sat_required_snowball=False)
    assert n == 1 and (out & JUMP).sum() > (gdq & JUMP).sum()
    # the same ring near the edge: the core may be off the array, flagged
    gdq_e, _, _ = _event(cy=10, cx=50)
    gdq_e &= ~np.uint8(SAT)
    _, n = flag_snowballs(gdq_e, edge_size=25)
    assert n == 1
    # ... but not near a block's edge that is inside the exposure
    _, n = flag_snowballs(gdq_e, edge_size=25, origin=(100, 100), shape=(400, 400))
    assert n == 0
    # a region smaller than min_jump_area
    small = np.zeros((1, 4, 60, 60), np.uint8)
    small[0, 2, 30, 30:34] = JUMP
    small[0, 2:, 30, 31] |= SAT
    _, n = flag_snowballs(small, min_jump_area=5)
    assert n == 0
    # the first group has no previous group: never a snowball there
    first = np.zeros((1, 3, 60, 60), np.uint8)
    first[0, 0, 25:35, 25:35] = JUMP
    _, n = flag_snowballs(first, sat_required_snowball=False)
    assert n == 0


def test_core_saturating_in_the_next_group_counts():
    gdq, d, sq = _event(group=3)
    gdq[0, 3][sq] &= ~np.uint8(SAT)          # the core saturates one group later
    out, n = flag_snowballs(gdq)
    assert n == 1


def test_radius_is_capped():
    gdq, d, sq = _event(ny=201, nx=201, cy=100, cx=100, ring=30.0, core=1)
    out, _ = flag_snowballs(gdq, expand_factor=3.0, max_extended_radius=40.0)
    jump = (out[0, 3] & JUMP) != 0
    assert not np.any(jump[d > 40.01]) and np.all(jump[(d <= 39.9) & ~sq])


def _shower_ramps(excess, ny=80, nx=80, ngroups=12, rn=10.0, seed=2, radius=8.0, group=6):
    """Ramps of zero signal whose differences have the READNOISE ``rn``, and from
    ``group`` on a step of ``excess`` x rn over a disc of ``radius`` (a faint shower)."""
    rng = np.random.default_rng(seed)
    data = np.cumsum(rng.normal(0, rn, (1, ngroups, ny, nx)), axis=1)     # each difference: noise rn
    yy, xx = np.mgrid[0:ny, 0:nx]
    d = np.hypot(yy - ny / 2, xx - nx / 2)
    data[0, group:][:, d <= radius] += excess * rn
    return data, np.zeros(data.shape, np.uint8), d


def test_shower_below_the_two_point_threshold_is_flagged_in_its_group():
    from webbcal.detector.jump import detect_jumps
    from webbcal.detector.large_events import flag_showers

    data, gdq, d = _shower_ramps(2.0)
    gdq = detect_jumps(data, gdq, 4.0, 10.0)
    assert np.mean(gdq[0, 6][d <= 8] & JUMP != 0) < 0.1      # each pixel alone: mostly missed
    out, n = flag_showers(data, gdq, 4.0, 10.0)
    assert n == 1
    flagged = (out[0, 6] & JUMP) != 0
    assert np.all(flagged[d <= 7.5])                          # the shower's disc ...
    assert not np.any(flagged[d > 8 * 1.1 + 2.5])             # ... grown by 10 %, not beyond
    others = np.delete(out[0], 6, axis=0) & JUMP
    assert not np.any(others & ~np.delete(gdq[0], 6, axis=0))  # no other group gains flags


def test_no_shower_in_noise_or_too_few_differences():
    from webbcal.detector.large_events import flag_showers

    data, gdq, d = _shower_ramps(0.0)
    out, n = flag_showers(data, gdq, 4.0, 10.0)
    assert n == 0 and np.array_equal(out, gdq)
    data, gdq, d = _shower_ramps(2.0, ngroups=6, group=3)      # 5 differences: below min_diffs_for_shower
    _, n = flag_showers(data, gdq, 4.0, 10.0)
    assert n == 0
    _, n = flag_showers(data, gdq, 4.0, 10.0, min_diffs_for_shower=5)
    assert n == 1


def test_wide_cores_are_masked_in_the_next_integration():
    """A wide core (5 x 5, new in group 3 of integration 0) is flagged JUMP_DET in the
    next integration from its second group up to next_int_groups - 1, on the core's own
    (not grown) disc; not in the integration after that, not without the option, and
    neither grown nor carried over when no core is required (as the official step)."""
    one, d, sq = _event(ring=5.0, core=2, ngroups=8)
    gdq = np.concatenate([one, np.zeros_like(one), np.zeros_like(one)])      # 3 integrations
    out, _ = flag_snowballs(gdq, next_int_groups=5)
    core_r = 2 * np.sqrt(2) + 0.5
    flagged = (out[1] & JUMP) != 0
    assert np.all(flagged[1:5][:, d <= core_r - 0.01])
    assert not np.any(flagged[1:5][:, d > core_r + 0.01])
    assert not np.any(flagged[0]) and not np.any(flagged[5:])
    assert not np.any(out[2] & JUMP)
    plain, _ = flag_snowballs(gdq)
    assert not np.any(plain[1:] & JUMP)
    loose, _ = flag_snowballs(gdq, sat_required_snowball=False, next_int_groups=5)
    assert not np.any(loose[1:] & JUMP)
    assert np.array_equal(loose & SAT, gdq & SAT)
