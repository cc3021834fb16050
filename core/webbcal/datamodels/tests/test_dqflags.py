import numpy as np
import pytest

from webbcal.datamodels import DQ, dq_from_names, interpret_dq_def

EXPECTED = {
    "DO_NOT_USE": 1, "SATURATED": 2, "JUMP_DET": 4, "DROPOUT": 8, "OUTLIER": 16,
    "PERSISTENCE": 32, "AD_FLOOR": 64, "CHARGELOSS": 128, "UNRELIABLE_ERROR": 256,
    "NON_SCIENCE": 512, "DEAD": 1024, "HOT": 2048, "WARM": 4096, "LOW_QE": 8192,
    "RC": 16384, "TELEGRAPH": 32768, "NONLINEAR": 65536, "BAD_REF_PIXEL": 131072,
    "NO_FLAT_FIELD": 262144, "NO_GAIN_VALUE": 524288, "NO_LIN_CORR": 1048576,
    "NO_SAT_CHECK": 2097152, "UNRELIABLE_BIAS": 2**22, "UNRELIABLE_DARK": 2**23,
    "UNRELIABLE_SLOPE": 2**24, "UNRELIABLE_FLAT": 2**25, "OPEN": 2**26, "ADJ_OPEN": 2**27,
    "FLUX_ESTIMATED": 2**28, "MSA_FAILED_OPEN": 2**29, "OTHER_BAD_PIXEL": 2**30,
    "REFERENCE_PIXEL": 2**31,
}


@pytest.mark.parametrize("name,value", sorted(EXPECTED.items(), key=lambda kv: kv[1]))
def test_jwst_bit_values(name, value):
    assert int(DQ[name]) == value


def test_every_bit_has_one_flag():
    bits = sorted(int(f) for f in DQ if int(f))
    assert bits == [2**i for i in range(32)]


def test_flags_fit_uint32_and_combine():
    dq = np.array([DQ.DO_NOT_USE | DQ.REFERENCE_PIXEL, DQ.SATURATED], dtype=np.uint32)
    assert dq[0] == 2**31 + 1
    assert (dq & DQ.DO_NOT_USE).tolist() == [1, 0]
    assert dq_from_names("DO_NOT_USE, JUMP_DET") == 5
    with pytest.raises(KeyError):
        dq_from_names("NOT_A_FLAG")


def test_interpret_dq_def_maps_names_and_translates_arrays():
    table = np.array(
        [(0, 1, "DO_NOT_USE"), (1, 2, "DEAD"), (2, 4, "SOMETHING_ODD"), (3, 8, "GOOD")],
        dtype=[("BIT", "i4"), ("VALUE", "u4"), ("NAME", "S20")],
    )
    mapping = interpret_dq_def(table)
    assert mapping == {1: 1, 2: int(DQ.DEAD), 4: int(DQ.DO_NOT_USE)}
    out = interpret_dq_def(table, np.array([0, 1, 2, 3, 4, 8]))
    assert out.dtype == np.uint32
    assert out.tolist() == [0, 1, 1024, 1025, 1, 0]
